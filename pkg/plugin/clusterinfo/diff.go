package clusterinfo

import (
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// kubeconfigDiff is a line diff of two kubeconfig texts, unified-style
// with the whole (short) file as context.
func kubeconfigDiff(a, b string) string {
	al := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	bl := strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	// lcs[i][j] is the longest common subsequence of al[i:] and bl[j:].
	lcs := make([][]int, len(al)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(bl)+1)
	}
	for i := len(al) - 1; i >= 0; i-- {
		for j := len(bl) - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	sb.WriteString("--- " + cluster.ClusterInfoNamespace + "/" + cluster.ClusterInfoName + " kubeconfig (current)\n")
	sb.WriteString("+++ " + cluster.ClusterInfoNamespace + "/" + cluster.ClusterInfoName + " kubeconfig (after update)\n")
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && j < len(bl) && al[i] == bl[j]:
			sb.WriteString(" " + al[i] + "\n")
			i, j = i+1, j+1
		case j == len(bl) || (i < len(al) && lcs[i+1][j] >= lcs[i][j+1]):
			sb.WriteString("-" + al[i] + "\n")
			i++
		default:
			sb.WriteString("+" + bl[j] + "\n")
			j++
		}
	}
	return sb.String()
}
