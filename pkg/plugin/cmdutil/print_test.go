package cmdutil

import (
	"bytes"
	"testing"
)

func TestWriteTableLooksLikeKubectlGet(t *testing.T) {
	var b bytes.Buffer
	err := WriteTable(&b, []string{"namespace", "state", "not after"}, [][]string{
		{"kube-system", "bundled", "2036-01-02"},
		{"default", "only-old", ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAMESPACE     STATE      NOT AFTER\n" +
		"kube-system   bundled    2036-01-02\n" +
		"default       only-old\n"
	if b.String() != want {
		t.Fatalf("got:\n%q\nwant:\n%q", b.String(), want)
	}
}
