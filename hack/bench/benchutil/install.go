// Package benchutil holds what the benchmarks under hack/bench share.
package benchutil

import (
	"io"
	"os"
)

// Install writes src's bytes to a new executable file dst with plain
// write() calls, as krew or tar do when they unpack a release archive. The
// Go linker writes its output through mmap, and on kernels with large
// page-cache folios such a file's text is mapped in 2 MiB pieces, so a
// binary fresh from the linker can show megabytes more RSS than the same
// bytes as users install them.
func Install(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	// The anonymous struct hides ReadFrom, so io.Copy cannot use
	// copy_file_range and really writes.
	if _, err := io.Copy(struct{ io.Writer }{out}, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
