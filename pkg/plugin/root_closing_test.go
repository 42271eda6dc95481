package plugin

import (
	"errors"
	"testing"
)

func TestClosing(t *testing.T) {
	const away = "https://127.0.0.1:6443"
	for _, tc := range []struct {
		name string
		err  error
		away string
		want string
	}{
		{"no error", nil, away, ""},
		{"the API server answered throughout", errors.New("boom"), "", ""},
		{"the error says what to do", errors.New("3 of 9 workloads failed; re-run with --value v1 to finish this pass"), away,
			"The API server at https://127.0.0.1:6443 stopped answering while this command ran, which is likely why it failed: once it answers again, do what the error says."},
		{"the error does not", errors.New("rollout did not finish within 10s"), away,
			"The API server at https://127.0.0.1:6443 stopped answering while this command ran; if that is why it failed, run the same command again once it answers: what is already done is not done twice."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := closing(tc.err, tc.away); got != tc.want {
				t.Fatalf("closing = %q\nwant      %q", got, tc.want)
			}
		})
	}
}
