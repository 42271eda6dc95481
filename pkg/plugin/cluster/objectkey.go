package cluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ObjectKey returns one key of a ConfigMap (kind "configmap", data or
// binaryData) or a Secret (kind "secret"). A missing key's error lists the
// key names (never values) so the user can pick one.
func ObjectKey(ctx context.Context, client kubernetes.Interface, kind, ns, name, key string) ([]byte, error) {
	var values map[string][]byte
	err := WithRetry(ctx, func() error {
		values = map[string][]byte{}
		if kind == "secret" {
			s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			maps.Copy(values, s.Data)
			return nil
		}
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for k, v := range cm.Data {
			values[k] = []byte(v)
		}
		maps.Copy(values, cm.BinaryData)
		return nil
	})
	if err != nil {
		return nil, err
	}
	v, ok := values[key]
	if !ok {
		keys := slices.Sorted(maps.Keys(values))
		return nil, fmt.Errorf("no key %q (keys: %s); choose one with --key", key, strings.Join(keys, ", "))
	}
	return v, nil
}
