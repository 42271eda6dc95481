package clusterinfo

import (
	"strings"
	"testing"
	"time"
)

func TestUpdateClusterInfoValidate(t *testing.T) {
	cases := []struct {
		o    UpdateClusterInfoOptions
		want string
	}{
		{UpdateClusterInfoOptions{}, ""}, // --ca from the rotation record
		{UpdateClusterInfoOptions{CAFile: "x", DryRunFlag: "yes"}, `"none", "client", or "server"`},
		{UpdateClusterInfoOptions{CAFile: "x", Output: "wide"}, "unsupported output format"},
		{UpdateClusterInfoOptions{Check: true, Sign: true}, "--check is read-only"},
		{UpdateClusterInfoOptions{Check: true, DryRunFlag: "server"}, "--check is read-only"},
		{UpdateClusterInfoOptions{CAFile: "x", SignerWait: -time.Second}, "--signer-wait"},
		{UpdateClusterInfoOptions{Check: true}, ""},
		{UpdateClusterInfoOptions{CAFile: "x", DryRunFlag: "client", Output: "json"}, ""},
	}
	for _, c := range cases {
		err := c.o.Validate()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: err %v, want %q", c.o, err, c.want)
		}
	}
}
