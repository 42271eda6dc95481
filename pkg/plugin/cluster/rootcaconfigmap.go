package cluster

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// GetRootCAConfigMap reads the kube-root-ca.crt ConfigMap of namespace ns,
// with who last wrote its ca.crt by the same rule as every other reader
// (CAChange). A missing ConfigMap is the API's NotFound error.
func GetRootCAConfigMap(ctx context.Context, client kubernetes.Interface, ns string) (RootCAObject, error) {
	var cm *corev1.ConfigMap
	err := WithRetry(ctx, func() (err error) {
		cm, err = client.CoreV1().ConfigMaps(ns).Get(ctx, RootCAConfigMap, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return RootCAObject{}, err
	}
	v, ok := cm.Data[RootCAKey]
	return rootCAObjectOf("ConfigMap", cm.Namespace, cm.Name, []byte(v), ok, cm.ManagedFields, cm.CreationTimestamp.Time), nil
}
