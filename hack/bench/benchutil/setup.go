package benchutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// Setup is what a plugin benchmark runs on: a local control plane of its
// own in a temporary directory, an admin client at a high rate limit to
// fill it, and the plugin as users install it.
type Setup struct {
	Dir     string
	BinDir  string
	Cluster *localcluster.Cluster
	Client  kubernetes.Interface
	// Plugin is the binary as built (make bench passes the release build);
	// Installed the same bytes unpacked with write(), see Install: what is
	// measured. The figure for Plugin is printed for reference.
	Plugin, Installed string
}

// Start checks that plugin (default: the developer build) exists, starts
// the control plane with one node and installs the plugin. name prefixes
// the temporary directory. Stop undoes it all.
func Start(ctx context.Context, name, plugin string) (_ *Setup, err error) {
	s := &Setup{}
	if s.BinDir, err = localcluster.DefaultBinDir(); err != nil {
		return nil, err
	}
	if plugin == "" {
		plugin = filepath.Join(s.BinDir, "kubectl-carotate")
	}
	if _, err := os.Stat(plugin); err != nil {
		return nil, fmt.Errorf("%s not built: run make build first", plugin)
	}
	s.Plugin = plugin
	if s.Dir, err = os.MkdirTemp("", "carotate-bench-"+name+"-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Stop())
		}
	}()
	start := time.Now()
	s.Cluster, err = localcluster.Start(ctx, localcluster.Options{Dir: s.Dir, Nodes: 1, Logf: func(f string, a ...any) {
		fmt.Fprintf(os.Stderr, "cluster: "+f+"\n", a...)
	}})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "control plane up in %s\n", time.Since(start).Round(time.Second))
	cfg, err := s.Cluster.RESTConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	if s.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	s.Installed = filepath.Join(s.Dir, "kubectl-carotate")
	return s, Install(plugin, s.Installed)
}

// Stop stops the control plane and deletes the directory.
func (s *Setup) Stop() error {
	var err error
	if s.Cluster != nil {
		err = s.Cluster.Stop()
	}
	return errors.Join(err, os.RemoveAll(s.Dir))
}

// WriteJSON writes v, indented, to path ("" writes nothing).
func WriteJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Peak is the worst of several runs: the slowest time, the largest RSS.
type Peak struct {
	Seconds       float64
	MaxRSS, Anon  int64
	AsBuiltMaxRSS int64
}

// MeasurePlugin runs the installed plugin with args runs times (and the
// plugin as built once, for reference), checks each run's output with
// check, and returns the worst figures. ok are the accepted exit codes.
func (s *Setup) MeasurePlugin(ctx context.Context, runs int, ok []int, check func(stdout string) error, args ...string) (Peak, error) {
	var p Peak
	if r, err := Measure(ctx, s.Cluster.Kubeconfig, s.Plugin, ok, args...); err == nil {
		fmt.Fprintf(os.Stderr, "as built (linker output, not the installed copy): max RSS %d KiB (anonymous %d KiB)\n", r.MaxRSS, r.PeakAnon)
		p.AsBuiltMaxRSS = r.MaxRSS
	}
	for i := range runs {
		r, err := Measure(ctx, s.Cluster.Kubeconfig, s.Installed, ok, args...)
		if err != nil {
			return p, err
		}
		if err := check(r.Stdout); err != nil {
			return p, err
		}
		fmt.Fprintf(os.Stderr, "%s run %d: %.2fs, max RSS %d KiB (anonymous %d KiB)\n", args[0], i+1, r.Seconds, r.MaxRSS, r.PeakAnon)
		p.Seconds, p.MaxRSS, p.Anon = max(p.Seconds, r.Seconds), max(p.MaxRSS, r.MaxRSS), max(p.Anon, r.PeakAnon)
	}
	return p, nil
}

// Comparison is the plugin's worst run against the baseline's one run, as
// the benchmarks write it to their JSON file.
type Comparison struct {
	VerifySeconds float64 `json:"verifySeconds"`
	VerifyMaxRSS  int64   `json:"verifyMaxRSSKiB"`
	VerifyAnon    int64   `json:"verifyPeakAnonKiB"`
	AsBuiltMaxRSS int64   `json:"asBuiltMaxRSSKiB"`
	KubectlSecs   float64 `json:"kubectlGetSeconds"`
	KubectlMaxRSS int64   `json:"kubectlGetMaxRSSKiB"`
	TimeRatio     float64 `json:"timeRatio"`
	RSSRatio      float64 `json:"rssRatio"`
	MaxRSSLimit   int64   `json:"maxRSSLimitKiB"`
	Pass          bool    `json:"pass"`
}

// Compare fills c from the plugin's peak and the baseline's run; it passes
// when the plugin's peak RSS is within limitMiB.
func Compare(p Peak, baseline Run, limitMiB int64) Comparison {
	c := Comparison{VerifySeconds: p.Seconds, VerifyMaxRSS: p.MaxRSS, VerifyAnon: p.Anon, AsBuiltMaxRSS: p.AsBuiltMaxRSS,
		KubectlSecs: baseline.Seconds, KubectlMaxRSS: baseline.MaxRSS, MaxRSSLimit: limitMiB << 10}
	c.TimeRatio = c.VerifySeconds / c.KubectlSecs
	c.RSSRatio = float64(c.VerifyMaxRSS) / float64(c.KubectlMaxRSS)
	c.Pass = c.VerifyMaxRSS <= c.MaxRSSLimit
	return c
}

// Finish prints the comparison as name's two result lines (what was
// measured, against baseline), writes res to the JSON file out, and fails
// when the peak RSS is over the limit.
func (c Comparison) Finish(name, what, baseline string, out string, res any) error {
	fmt.Printf("%s: %s: %.2fs, peak RSS %.1f MiB (limit %d MiB), of which heap and stacks %.1f MiB\n",
		name, what, c.VerifySeconds, float64(c.VerifyMaxRSS)/1024, c.MaxRSSLimit>>10, float64(c.VerifyAnon)/1024)
	fmt.Printf("%s: baseline %s: %.2fs, peak RSS %.1f MiB; ratio verify/baseline: time %.2f, RSS %.2f\n",
		name, baseline, c.KubectlSecs, float64(c.KubectlMaxRSS)/1024, c.TimeRatio, c.RSSRatio)
	if err := WriteJSON(out, res); err != nil {
		return err
	}
	if !c.Pass {
		return fmt.Errorf("peak RSS %d KiB exceeds %d MiB", c.VerifyMaxRSS, c.MaxRSSLimit>>10)
	}
	return nil
}
