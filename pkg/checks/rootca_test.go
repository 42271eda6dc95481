package checks

import (
	"strings"
	"testing"
)

func TestDecideRootCA(t *testing.T) {
	oldCA, newCA, stranger := newCA(t, "old"), newCA(t, "new"), newCA(t, "stranger")
	labels := map[string]string{Fingerprint(oldCA.cert): "old", Fingerprint(newCA.cert): "new"}
	bundle := RootCATarget{Want: certs(newCA, oldCA), Labels: labels}
	keepLabels := map[string]string{Fingerprint(newCA.cert): "kept"}
	unbundle := RootCATarget{Want: certs(newCA), Labels: keepLabels, AllowRemove: true}
	strangerShort := "CN=stranger (" + Fingerprint(stranger.cert)[:16] + ")"
	oldShort := "CN=old (" + Fingerprint(oldCA.cert)[:16] + ")"

	cases := []struct {
		name       string
		value      []byte
		absent     bool
		target     RootCATarget
		action     RootCAAction
		found      string
		reasonPart string
	}{
		{"bundle: old only gets new", oldCA.pem, false, bundle, RootCAWrite, "old", "adds new"},
		{"bundle: new only gets old", newCA.pem, false, bundle, RootCAWrite, "new", "adds old"},
		{"bundle: already, our order", concat(newCA.pem, oldCA.pem), false, bundle, RootCAInPlace, "new+old", ""},
		{"bundle: already, other order and a repeat", concat(oldCA.pem, newCA.pem, oldCA.pem), false, bundle, RootCAInPlace, "old+new", ""},
		{"bundle: stranger is not dropped", stranger.pem, false, bundle, RootCAOther, strangerShort, "outside this rotation: " + strangerShort},
		{"bundle: old plus stranger", concat(oldCA.pem, stranger.pem), false, bundle, RootCAOther, "old+" + strangerShort, strangerShort},
		{"bundle: absent key", nil, true, bundle, RootCAWrite, "absent", "missing"},
		{"bundle: empty value", []byte(" \n"), false, bundle, RootCAWrite, "empty", "empty"},
		{"bundle: garbage", []byte("hello"), false, bundle, RootCAWrite, "unparsable", "cm[ca.crt]: not PEM"},
		{"bundle: private key never written over", keyPEM(t, oldCA.key), false, bundle, RootCAPrivateKey, "private key", "left alone"},
		{"unbundle: bundle loses old", concat(newCA.pem, oldCA.pem), false, unbundle, RootCAWrite, "kept+" + oldShort, "removes " + oldShort},
		{"unbundle: already kept only", newCA.pem, false, unbundle, RootCAInPlace, "kept", ""},
		{"unbundle: old only never bundled", oldCA.pem, false, unbundle, RootCAOther, oldShort, "does not hold kept"},
		{"unbundle: subset of a kept bundle is completed", newCA.pem, false,
			RootCATarget{Want: certs(newCA, oldCA), Labels: labels, AllowRemove: true}, RootCAWrite, "new", "adds old"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := DecideRootCA("cm[ca.crt]", c.value, !c.absent, c.target)
			if d.Action != c.action || d.Found != c.found || !strings.Contains(d.Reason, c.reasonPart) {
				t.Fatalf("got %+v, want action %s found %q reason containing %q", d, c.action, c.found, c.reasonPart)
			}
			if c.action == RootCAPrivateKey && strings.Contains(d.Reason, "BEGIN") {
				t.Fatalf("reason echoes key material: %q", d.Reason)
			}
		})
	}
}

func TestDescribeSet(t *testing.T) {
	a := newCA(t, "a")
	if got := DescribeSet(nil, nil); got != "none" {
		t.Fatalf("empty set: %q", got)
	}
	if got := DescribeSet(certs(a, a), map[string]string{Fingerprint(a.cert): "x"}); got != "x" {
		t.Fatalf("repeats must collapse: %q", got)
	}
	if got, want := ShortFingerprint("0123456789abcdef0123"), "0123456789abcdef"; got != want {
		t.Fatalf("ShortFingerprint: %q", got)
	}
	if got := ShortFingerprint("abc"); got != "abc" {
		t.Fatalf("ShortFingerprint short: %q", got)
	}
}
