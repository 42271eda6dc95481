package checks

import (
	"bytes"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
)

func TestBuildBundle(t *testing.T) {
	o1, o2, n1, n2 := newCA(t, "old1"), newCA(t, "old2"), newCA(t, "new1"), newCA(t, "new2")
	tests := []struct {
		name     string
		newCAs   []*x509.Certificate
		oldCAs   []*x509.Certificate
		wantPEMs []testCert
	}{
		{"one each", certs(n1), certs(o1), []testCert{n1, o1}},
		{"sets keep their order, new first", certs(n2, n1), certs(o1, o2), []testCert{n2, n1, o1, o2}},
		{"old already in new is not repeated", certs(n1, o1), certs(o1), []testCert{n1, o1}},
		{"duplicates inside a set dropped", certs(n1, n1), certs(o1, o1, o2), []testCert{n1, o1, o2}},
		{"no old", certs(n1), nil, []testCert{n1}},
		{"nil entries skipped", []*x509.Certificate{nil, n1.cert}, []*x509.Certificate{nil}, []testCert{n1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BuildBundle(tt.newCAs, tt.oldCAs)
			var want []byte
			for _, tc := range tt.wantPEMs {
				want = append(want, tc.pem...)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("bundle:\n%s\nwant:\n%s", got, want)
			}
			if !bytes.Equal(got, BuildBundle(tt.newCAs, tt.oldCAs)) {
				t.Error("a second run produced different bytes")
			}
			if bytes.Contains(got, []byte("\n\n")) || !bytes.HasSuffix(got, []byte("-----\n")) {
				t.Errorf("bundle has blank lines or no final newline:\n%s", got)
			}
			if _, err := ParseCertificates("bundle", got); err != nil {
				t.Errorf("bundle does not parse back: %v", err)
			}
		})
	}
}

func TestBuildBundleDoesNotModifyInputs(t *testing.T) {
	n1, o1 := newCA(t, "n"), newCA(t, "o")
	newCAs := make([]*x509.Certificate, 1, 4)
	newCAs[0] = n1.cert
	BuildBundle(newCAs, certs(o1))
	if full := newCAs[:2]; full[1] != nil {
		t.Error("BuildBundle wrote into the spare capacity of newCAs")
	}
}

func TestEncodePEM(t *testing.T) {
	a, b := newCA(t, "a"), newCA(t, "b")
	if got := EncodePEM(nil); len(got) != 0 {
		t.Errorf("EncodePEM(nil) = %q, want empty", got)
	}
	if got, want := EncodePEM(certs(b, a, b)), concat(b.pem, a.pem); !bytes.Equal(got, want) {
		t.Errorf("EncodePEM:\n%s\nwant:\n%s", got, want)
	}
}

func TestClassify(t *testing.T) {
	o1, o2, n1, n2, x := newCA(t, "old1"), newCA(t, "old2"), newCA(t, "new1"), newCA(t, "new2"), newCA(t, "stranger")
	oldOne, newOne := certs(o1), certs(n1)
	oldTwo, newTwo := certs(o1, o2), certs(n1, n2)
	tests := []struct {
		name        string
		found       []byte
		old, new    []*x509.Certificate
		want        BundleState
		wantUnknown []string // subjects
		wantMissing []string // subjects
	}{
		{"only old", o1.pem, oldOne, newOne, BundleOnlyOld, nil, []string{"CN=new1"}},
		{"only new", n1.pem, oldOne, newOne, BundleOnlyNew, nil, []string{"CN=old1"}},
		{"both, built bundle", BuildBundle(newOne, oldOne), oldOne, newOne, BundleHasBoth, nil, nil},
		{"both, other order and duplicates", concat(o1.pem, n1.pem, o1.pem), oldOne, newOne, BundleHasBoth, nil, nil},
		{"unknown alone", x.pem, oldOne, newOne, BundleOther, []string{"CN=stranger"}, []string{"CN=old1", "CN=new1"}},
		{"unknown beside both", concat(n1.pem, o1.pem, x.pem, x.pem), oldOne, newOne, BundleOther, []string{"CN=stranger"}, nil},
		{"part of old set with new", concat(n1.pem, o2.pem), oldTwo, newOne, BundleOther, nil, []string{"CN=old1"}},
		{"part of new set alone", n2.pem, oldOne, newTwo, BundleOther, nil, []string{"CN=old1", "CN=new1"}},
		{"whole old set, part of new", concat(o1.pem, o2.pem, n2.pem), oldTwo, newTwo, BundleOther, nil, []string{"CN=new1"}},
		{"bundles on both sides", concat(n2.pem, n1.pem, o2.pem, o1.pem), oldTwo, newTwo, BundleHasBoth, nil, nil},
		{"no old set given", n1.pem, nil, newOne, BundleOnlyNew, nil, nil},
		{"no sets given", n1.pem, nil, nil, BundleOther, []string{"CN=new1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify("configmap/kube-system/x[ca.crt]", tt.found, tt.old, tt.new)
			if got.State != tt.want {
				t.Errorf("State = %q, want %q", got.State, tt.want)
			}
			if got.Err != nil {
				t.Errorf("Err = %v", got.Err)
			}
			if s := subjects(got.Unknown); s != strings.Join(tt.wantUnknown, ",") {
				t.Errorf("Unknown = %s, want %s", s, strings.Join(tt.wantUnknown, ","))
			}
			if s := subjects(got.Missing); s != strings.Join(tt.wantMissing, ",") {
				t.Errorf("Missing = %s, want %s", s, strings.Join(tt.wantMissing, ","))
			}
		})
	}
}

func subjects(infos []CertInfo) string {
	var s []string
	for _, i := range infos {
		s = append(s, i.Subject)
	}
	return strings.Join(s, ",")
}

func TestClassifyInvalid(t *testing.T) {
	ca := newCA(t, "ca")
	for name, in := range map[string][]byte{
		"empty":         nil,
		"key":           keyPEM(t, ca.key),
		"trailing junk": concat(ca.pem, []byte("x")),
	} {
		t.Run(name, func(t *testing.T) {
			got := Classify("configmap/kube-system/x[ca.crt]", in, certs(ca), nil)
			if got.State != BundleInvalid {
				t.Fatalf("State = %q, want invalid", got.State)
			}
			var ie *InputError
			if !errors.As(got.Err, &ie) || ie.Source != "configmap/kube-system/x[ca.crt]" {
				t.Errorf("Err = %v, want an *InputError naming the source", got.Err)
			}
		})
	}
}

func TestBundleStateValues(t *testing.T) {
	for state, want := range map[BundleState]string{
		BundleHasBoth: "both", BundleOnlyOld: "only-old", BundleOnlyNew: "only-new", BundleOther: "other", BundleInvalid: "invalid",
	} {
		if string(state) != want {
			t.Errorf("%q, want %q", state, want)
		}
	}
}

func TestSameCertificatesAndContains(t *testing.T) {
	a, b, c := newCA(t, "a"), newCA(t, "b"), newCA(t, "c")
	same := []struct {
		name string
		x, y []*x509.Certificate
		want bool
	}{
		{"equal", certs(a, b), certs(a, b), true},
		{"order ignored", certs(a, b), certs(b, a), true},
		{"duplicates ignored", certs(a, b, a), certs(b, a), true},
		{"both empty", nil, nil, true},
		{"subset", certs(a), certs(a, b), false},
		{"different", certs(a, b), certs(a, c), false},
		{"same subject, different certificate", certs(a), certs(newCA(t, "a")), false},
	}
	for _, tt := range same {
		t.Run(tt.name, func(t *testing.T) {
			if got := SameCertificates(tt.x, tt.y); got != tt.want {
				t.Errorf("SameCertificates = %v, want %v", got, tt.want)
			}
			if got := SameCertificates(tt.y, tt.x); got != tt.want {
				t.Errorf("SameCertificates (swapped) = %v, want %v", got, tt.want)
			}
		})
	}

	// Equal bytes parsed separately are distinct pointers but the same
	// certificate.
	reparsed, err := x509.ParseCertificate(a.cert.Raw)
	if err != nil {
		t.Fatal(err)
	}
	contains := []struct {
		name string
		set  []*x509.Certificate
		c    *x509.Certificate
		want bool
	}{
		{"present", certs(a, b), b.cert, true},
		{"present as another parse", certs(a, b), reparsed, true},
		{"absent", certs(a, b), c.cert, false},
		{"empty set", nil, a.cert, false},
		{"nil certificate", certs(a), nil, false},
	}
	for _, tt := range contains {
		t.Run(tt.name, func(t *testing.T) {
			if got := Contains(tt.set, tt.c); got != tt.want {
				t.Errorf("Contains = %v, want %v", got, tt.want)
			}
		})
	}
}
