package shelltest

import "testing"

// TestCheckRunnableCatchesDescriptions: the checker itself fails on what
// verify once printed when the CAs came from the rotation record.
func TestCheckRunnableCatchesDescriptions(t *testing.T) {
	for _, bad := range []string{
		`kubectl config set-cluster local --embed-certs --certificate-authority=rotation 20261202-1dd963's bundle (new+old)`,
		`kubectl carotate update-cluster-info --ca rotation 20261202-1dd963's bundle (new+old)`,
		`kubectl carotate restart-workloads --value 'a b'`,
		`kubectl carotate restart-workloads --kinds jobs`,
		`kubectl carotate instructions --step 13`,
		`kubectl carotate nosuch`,
		`point kube-controller-manager's --root-ca-file at x.crt`,
	} {
		var p Problems
		Check(&p, bad)
		if len(p) == 0 {
			t.Errorf("Check accepts %q", bad)
		}
	}
}
