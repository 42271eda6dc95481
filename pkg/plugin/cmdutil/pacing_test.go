package cmdutil

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// The writers' client has no rate limiter unless --qps or --burst is
// given: a 1000 QPS ceiling held bundle over 10,000 namespaces at 1.4x an
// unthrottled client (docs/benchmarks.md). The page reader keeps it.
func TestPacingClientRateLimit(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		flags     []string
		want      float32 // 0: no rate limiter
		wantPages float32
	}{
		{name: "defaults", want: 0, wantPages: passQPS},
		{name: "--qps 7", flags: []string{"--qps", "7"}, want: 7, wantPages: 7},
		{name: "--burst 3", flags: []string{"--burst", "3"}, want: DefaultQPS, wantPages: DefaultQPS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flags := genericclioptions.NewConfigFlags(false)
			flags.KubeConfig = &kubeconfig
			f := NewConfigFactory(flags, "test", nil)
			cmd := &cobra.Command{}
			cmd.Flags().Float32Var(&f.QPS, "qps", f.QPS, "")
			cmd.Flags().IntVar(&f.Burst, "burst", f.Burst, "")
			if err := cmd.Flags().Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			var p Pacing
			p.Complete(cmd, f)
			c, err := p.Clientset(f)
			if err != nil {
				t.Fatal(err)
			}
			rl := c.CoreV1().RESTClient().GetRateLimiter()
			switch {
			case tc.want == 0 && rl != nil:
				t.Fatalf("the writers' client has a rate limiter of %v QPS, want none", rl.QPS())
			case tc.want != 0 && rl == nil:
				t.Fatalf("the writers' client has no rate limiter, want %v QPS", tc.want)
			case tc.want != 0 && rl.QPS() != tc.want:
				t.Fatalf("the writers' client: %v QPS, want %v", rl.QPS(), tc.want)
			}
			if qps, _ := p.PageRateLimit(); qps != tc.wantPages {
				t.Fatalf("the page reader's rate limit: %v QPS, want %v", qps, tc.wantPages)
			}
		})
	}
}
