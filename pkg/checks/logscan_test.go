package checks

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestScanLogFixtures(t *testing.T) {
	cases := []struct {
		file    string
		lines   int
		matched int
		want    []LogMatch
	}{
		{"kube-apiserver.log", 5, 2, []LogMatch{
			{Pattern: "bad-certificate", Match: "tls: bad certificate", Lines: 2,
				Sample: `I0102 10:00:03.654321       1 server.go:3300] "http: TLS handshake error from 10.0.0.7:40112: remote error: tls: bad certificate"`},
			{Pattern: "remote-tls-error", Match: "remote error: tls", Lines: 2,
				Sample: `I0102 10:00:03.654321       1 server.go:3300] "http: TLS handshake error from 10.0.0.7:40112: remote error: tls: bad certificate"`},
		}},
		{"kube-controller-manager.log", 4, 2, []LogMatch{
			{Pattern: "unknown-authority", Match: "x509: certificate signed by unknown authority", Lines: 2,
				Sample: `...io/v1/namespaces/kube-system/leases/kube-controller-manager": tls: failed to verify certificate: x509: certificate signed by unknown authority (possibly because of "crypto/rsa: verification error" while trying to verify candidate authority ...`},
			{Pattern: "rsa-verification", Match: "crypto/rsa: verification error", Lines: 1,
				Sample: `...tem/leases/kube-controller-manager": tls: failed to verify certificate: x509: certificate signed by unknown authority (possibly because of "crypto/rsa: verification error" while trying to verify candidate authority certificate "kubernetes")`},
		}},
		{"coredns.log", 5, 0, []LogMatch{}},
		{"kubelet-expired.log", 3, 2, []LogMatch{
			{Pattern: "expired", Match: "certificate has expired", Lines: 2,
				Sample: `E0102 10:02:02.000000    4242 kubelet_node_status.go:549] "Error updating node status, will retry" err="x509: certificate has expired or is not yet valid: \x1b[31mred\x1b[0m"`},
		}},
		{"control-chars.log", 1, 1, []LogMatch{
			{Pattern: "remote-tls-error", Match: "remote error: tls", Lines: 1,
				Sample: "E0102 10:02:02.000000 color  [31mremote error: tls: unknown certificate authority [0m end"},
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "logs", c.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := ScanLog(f, TLSErrorPatterns)
			if err != nil {
				t.Fatal(err)
			}
			if s.Lines != c.lines || s.MatchedLines != c.matched {
				t.Errorf("lines %d matched %d, want %d and %d", s.Lines, s.MatchedLines, c.lines, c.matched)
			}
			if !reflect.DeepEqual(s.Matches, c.want) {
				t.Errorf("matches:\n got %#v\nwant %#v", s.Matches, c.want)
			}
		})
	}
}

func TestScanLogLongLineAndSampleCut(t *testing.T) {
	long := strings.Repeat("a", LogScanMaxLine+1000) + " x509: certificate signed by unknown authority"
	mid := strings.Repeat("é", 300) + " tls: bad certificate " + strings.Repeat("z", 500)
	in := long + "\n" + mid + "\nlast line without newline remote error: tls"
	s, err := ScanLog(strings.NewReader(in), TLSErrorPatterns)
	if err != nil {
		t.Fatal(err)
	}
	// The match past LogScanMaxLine is not seen: memory is bounded per line.
	if s.Lines != 3 || s.LongLines != 1 || s.MatchedLines != 2 || len(s.Matches) != 2 {
		t.Fatalf("got %+v", s)
	}
	bad := s.Matches[0]
	if bad.Pattern != "bad-certificate" || !strings.HasPrefix(bad.Sample, "...") || !strings.HasSuffix(bad.Sample, "...") ||
		!strings.Contains(bad.Sample, "tls: bad certificate") || len(bad.Sample) > logScanSampleMax+6 {
		t.Fatalf("sample not cut around the match: %q (%d bytes)", bad.Sample, len(bad.Sample))
	}
	if !strings.Contains(bad.Sample, "é") || strings.ContainsRune(bad.Sample, '\uFFFD') {
		t.Fatalf("sample cut inside a rune: %q", bad.Sample)
	}
	if s.Matches[1].Sample != "last line without newline remote error: tls" {
		t.Fatalf("last line: %q", s.Matches[1].Sample)
	}
}

type failingReader struct{ r *bytes.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil {
		return n, errors.New("stream reset")
	}
	return n, nil
}

func TestScanLogReadError(t *testing.T) {
	s, err := ScanLog(failingReader{bytes.NewReader([]byte("x509: certificate signed by unknown authority\n"))}, TLSErrorPatterns)
	if err == nil || err.Error() != "stream reset" {
		t.Fatalf("err %v", err)
	}
	// What was read before the error still counts.
	if s.MatchedLines != 1 {
		t.Fatalf("got %+v", s)
	}
}
