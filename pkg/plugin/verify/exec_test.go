package verify

import (
	"strings"
	"testing"
)

// The exec protocol itself is client-go's remotecommand; what is ours is
// refusing output too large to be a ca.crt without buffering all of it.
func TestVerifyLimitedBuffer(t *testing.T) {
	b := &limitedBuffer{max: 10}
	for _, chunk := range []string{"12345", "6789", "0abc", "def"} {
		if n, err := b.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write(%q) = %d, %v: a writer that refuses would break the stream", chunk, n, err)
		}
	}
	if !b.overflow || b.String() != "1234567890" {
		t.Fatalf("kept %q, overflow %v; want the first 10 bytes and overflow", b.String(), b.overflow)
	}
	small := &limitedBuffer{max: 1 << 20}
	pem := "-----BEGIN CERTIFICATE-----\n" + strings.Repeat("A", 64) + "\n-----END CERTIFICATE-----\n"
	small.Write([]byte(pem))
	if small.overflow || small.String() != pem {
		t.Fatalf("a CA bundle must pass through unchanged")
	}
}
