package clusterinfo

import "testing"

func TestKubeconfigDiff(t *testing.T) {
	a := "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: OLD\n    server: https://a\n  name: \"\"\nkind: Config\n"
	b := "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: NEW\n    server: https://a\n  name: \"\"\nkind: Config\n"
	want := `--- kube-public/cluster-info kubeconfig (current)
+++ kube-public/cluster-info kubeconfig (after update)
 apiVersion: v1
 clusters:
 - cluster:
-    certificate-authority-data: OLD
+    certificate-authority-data: NEW
     server: https://a
   name: ""
 kind: Config
`
	if got := kubeconfigDiff(a, b); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
}
