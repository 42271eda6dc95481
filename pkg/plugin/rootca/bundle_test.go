package rootca

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/testca"
)

func TestBundleValidate(t *testing.T) {
	cases := []struct {
		o    BundleOptions
		want string
	}{
		{BundleOptions{}, ""}, // both from the rotation record
		{BundleOptions{OldCA: "a"}, "--new-ca is required with --old-ca"},
		{BundleOptions{NewCA: "a"}, "--old-ca is required with --new-ca"},
		{BundleOptions{OldCA: "a", NewCA: "b", passOptions: passOptions{DryRunFlag: "maybe"}}, `invalid --dry-run value "maybe": must be "none", "client", or "server"`},
		{BundleOptions{OldCA: "a", NewCA: "b", passOptions: passOptions{Output: "wide"}}, `unsupported output format "wide"`},
		{BundleOptions{OldCA: "a", NewCA: "b", passOptions: passOptions{Settle: -1}}, "--settle must not be negative"},
		{BundleOptions{OldCA: "a", NewCA: "b", passOptions: passOptions{DryRunFlag: "server", Output: "json"}}, ""},
	}
	for _, c := range cases {
		err := c.o.Validate()
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.o, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.o, err, c.want)
		}
	}
}

func TestUnbundleValidate(t *testing.T) {
	if err := (&UnbundleOptions{passOptions: passOptions{Settle: -1}}).Validate(); err == nil || !strings.Contains(err.Error(), "--settle must not be negative") {
		t.Fatalf("got %v", err)
	}
	if err := (&UnbundleOptions{Keep: "k", passOptions: passOptions{DryRunFlag: "client"}}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBundleReadCAs(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := testca.New(t, "old"), testca.New(t, "new")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldFile, newFile := write("old.crt", oldCA.PEM), write("new.crt", newCA.PEM)
	_, _, _, keyPEM, err := checks.GenerateCA("k", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := write("key.pem", keyPEM)

	var errOut bytes.Buffer
	o := &BundleOptions{Env: &cmdutil.Env{}, OldCA: oldFile, NewCA: newFile, ExpiryWarning: checks.DefaultWarnWithin, passOptions: passOptions{now: time.Now}}
	o.ErrOut = &errOut
	bundle, err := o.readCAs(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]byte{}, newCA.PEM...), oldCA.PEM...); !bytes.Equal(bundle, want) {
		t.Fatalf("bundle must be new then old")
	}
	// GenerateCA(24h) expires within the 30-day window: a warning, not an error.
	if !strings.Contains(errOut.String(), "warning: old CA (CN=old) expires on") {
		t.Fatalf("stderr %q", errOut.String())
	}

	o.NewCA = keyFile
	_, err = o.readCAs(context.Background(), nil)
	if err == nil || err.Error() != "--new-ca "+keyFile+": block 1 is a private key (PRIVATE KEY); pass the certificate, never the key (nothing was changed)" {
		t.Fatalf("key: %v", err)
	}
	o.NewCA = oldFile
	_, err = o.readCAs(context.Background(), nil)
	if err == nil || !strings.HasPrefix(err.Error(), "old CA and new CA are the same certificate") || !strings.HasSuffix(err.Error(), "(nothing was changed)") {
		t.Fatalf("same: %v", err)
	}
}

func TestBundleOutFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ca-bundle.crt")
	bundle := []byte("BUNDLE\n")
	if same, err := checkOut(path, bundle, false); same || err != nil {
		t.Fatalf("absent file: %v %v", same, err)
	}
	// An existing 0600 file is replaced with a 0644 one: the
	// controller-manager may run as another user.
	if err := os.WriteFile(path, bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	if same, err := checkOut(path, bundle, false); !same || err != nil {
		t.Fatalf("identical file: %v %v", same, err)
	}
	if err := os.WriteFile(path, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := checkOut(path, bundle, false); err == nil || !strings.Contains(err.Error(), "exists and holds something else; pass --force") {
		t.Fatalf("different file: %v", err)
	}
	if same, err := checkOut(path, bundle, true); same || err != nil {
		t.Fatalf("--force: %v %v", same, err)
	}
	if err := writeOut(path, bundle); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if !bytes.Equal(got, bundle) || fi.Mode().Perm() != 0o644 {
		t.Fatalf("content %q mode %v", got, fi.Mode().Perm())
	}
	if _, err := os.Stat(path + ".tmp"); err == nil {
		t.Fatal("temporary file left behind")
	}
}

func TestBundleInstruction(t *testing.T) {
	got := bundleInstruction("", "ca.crt", "new.crt")
	for _, want := range []string{
		"its --root-ca-file is not yet\nthe bundle",
		"Copy the bundle ca-bundle.crt to the node",
		"(write it with: kubectl carotate bundle --old-ca ca.crt --new-ca new.crt --out ca-bundle.crt)",
		"Point kube-controller-manager's --root-ca-file at it and restart kube-controller-manager.",
		"Do not point --cluster-signing-cert-file or --client-ca-file at the bundle",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("instruction lacks %q:\n%s", want, got)
		}
	}
	if got := bundleInstruction("/tmp/b.crt", "o", "n"); strings.Contains(got, "write it with") || !strings.Contains(got, "Copy the bundle /tmp/b.crt") {
		t.Errorf("with --out:\n%s", got)
	}
	if got := unbundleInstruction("new.crt"); !strings.Contains(got, "step 12.1") || !strings.Contains(got, "(the content of new.crt)") {
		t.Errorf("unbundle:\n%s", got)
	}
}

func TestConclusion(t *testing.T) {
	cases := []struct {
		r    report
		want string
	}{
		{report{Command: "bundle", Namespaces: counts{Total: 2, Already: 2}},
			"bundle: every kube-root-ca.crt and legacy token Secret already holds the bundle; nothing was written\n"},
		{report{Command: "unbundle", Namespaces: counts{Total: 2, Already: 1, Skipped: 1}},
			"unbundle: every kube-root-ca.crt and legacy token Secret already holds the kept CA only, except 1 skipped (see the REASON column); nothing was written\n"},
		{report{Command: "bundle", DryRun: cmdutil.DryRunClient, Namespaces: counts{Total: 2, Updated: 2}},
			"bundle: 2 objects would be written (dry run)\n"},
		{report{Command: "bundle", UndoFile: "/u", Namespaces: counts{Total: 2, Updated: 1, Skipped: 1}},
			"bundle: done; to restore the previous values: kubectl carotate undo /u\nbundle: 1 objects skipped (see the REASON column)\n"},
	}
	for _, c := range cases {
		var b bytes.Buffer
		conclusion(&b, &c.r)
		if b.String() != c.want {
			t.Errorf("got %q\nwant %q", b.String(), c.want)
		}
	}
}
