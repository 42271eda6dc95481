package benchutil

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// Requests counts the API server's requests (apiserver_request_total)
// by "VERB resource[/subresource] code", for the resources named: what a
// contender asked of the server, the controller-manager's requests on the
// same resources included.
type Requests map[string]float64

// CountRequests reads the API server's request counters now.
func CountRequests(ctx context.Context, client kubernetes.Interface, resources ...string) (Requests, error) {
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	return parseRequests(raw, resources), nil
}

func parseRequests(raw []byte, resources []string) Requests {
	out := Requests{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "apiserver_request_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		l := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				l[k] = strings.Trim(v, `"`)
			}
		}
		if !slices.Contains(resources, l["resource"]) {
			continue
		}
		res := l["resource"]
		if l["subresource"] != "" {
			res += "/" + l["subresource"]
		}
		out[l["verb"]+" "+res+" "+l["code"]] += n
	}
	return out
}

// Since is what was counted after before, the keys sorted, as
// "PATCH deployments 200: 5000, GET deployments 200: 3".
func (r Requests) Since(before Requests) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r)) {
		if d := r[k] - before[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s: %.0f", k, d))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
