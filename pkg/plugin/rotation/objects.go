package rotation

import "github.com/carotate/kubectl-carotate/pkg/plugin/cluster"

// Objects are the objects the rotation is recorded in, as cluster.SkipKey
// names them. They hold the old CA on purpose, so the copies check never
// reports them.
func Objects() map[string]bool {
	return map[string]bool{cluster.SkipKey("ConfigMap", Namespace, ConfigMapName): true}
}
