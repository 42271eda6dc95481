package clients

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// Classify sorts the error a request returned, after client-go's retries,
// into an Outcome. nil is OK.
func Classify(err error) Outcome {
	if err == nil {
		return OK
	}
	// An answer from the API server comes first: a 401 after a retried
	// connection reset is a 401.
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if apierrors.IsUnauthorized(err) {
			return Unauthorized
		}
		return OtherError
	}
	if isTLSVerification(err) {
		return TLSFailure
	}
	if isUnreachable(err) {
		return Unreachable
	}
	return OtherError
}

// isTLSVerification is true when the client refused the API server's
// serving certificate.
func isTLSVerification(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		unknown   x509.UnknownAuthorityError
		unknownP  *x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		invalidP  *x509.CertificateInvalidError
		hostname  x509.HostnameError
		hostnameP *x509.HostnameError
	)
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &unknownP) ||
		errors.As(err, &invalid) || errors.As(err, &invalidP) || errors.As(err, &hostname) || errors.As(err, &hostnameP) {
		return true
	}
	// Some wrappers flatten the error to text.
	msg := err.Error()
	return strings.Contains(msg, "x509: certificate signed by unknown authority") ||
		strings.Contains(msg, "tls: failed to verify certificate")
}

// isUnreachable is true when no answer came: the port is closed, the
// connection broke, or nothing answered in time.
func isUnreachable(err error) bool {
	if utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		utilnet.IsHTTP2ConnectionLost(err) || utilnet.IsTimeout(err) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	for _, target := range []error{io.EOF, io.ErrUnexpectedEOF, syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED,
		syscall.EPIPE, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT} {
		if errors.Is(err, target) {
			return true
		}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	// client-go gives up before the timeout when its next retry could not
	// finish in time ("rate: Wait(n=1) would exceed context deadline -
	// error from a previous attempt: EOF"): no answer came.
	msg := err.Error()
	return strings.Contains(msg, "context deadline exceeded") || strings.Contains(msg, "would exceed context deadline") ||
		strings.Contains(msg, "TLS handshake timeout") ||
		strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset by peer")
}
