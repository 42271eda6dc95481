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

// WriteRows lays out what WriteTable does for the cells it is for:
// padding, empty cells in the middle and at the end, a header wider than
// its cells and cells wider than their header.
func TestWriteRowsIsWriteTable(t *testing.T) {
	header := []string{"namespace", "kind", "patched", "skipped", "rolled out"}
	rows := [][]string{
		{"kube-system", "Deployment", "3", "2 (OnDelete), 1 (0 replicas)", "-"},
		{"a", "Pod", "-", "1 (bare pod)", ""},
		{"default", "", "12345678901", "0", "7"},
		{"", "StatefulSet", "0", "", ""},
	}
	var want bytes.Buffer
	if err := WriteTable(&want, header, rows); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := WriteRows(&got, header, len(rows), func(i int, cells []string) { copy(cells, rows[i]) }); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("got:\n%q\nwant (WriteTable):\n%q", got.String(), want.String())
	}
}
