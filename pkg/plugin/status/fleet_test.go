package status

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

func testFleet() fleetReport {
	na := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	return fleetReport{FailWithin: 90, Expiring: []string{"prod-eu"}, Unread: []string{"lab"}, Rows: []fleetRow{
		{Context: "prod-eu", Server: "https://eu:6443", ServingCA: &caLife{Subject: "CN=kubernetes", Fingerprint: "0123456789abcdef0123", NotAfter: na, DaysLeft: 89, Source: "kube-system/kube-root-ca.crt"},
			RootCA: []caLife{{Subject: "CN=kubernetes", DaysLeft: 89}}, TookSeconds: 0.42},
		{Context: "prod-us", Server: "https://us:6443", ServingCA: &caLife{Subject: "CN=kubernetes", Fingerprint: "fedcba9876543210fedc", DaysLeft: 3000},
			RootCA:   []caLife{{DaysLeft: 3000}, {DaysLeft: 90}},
			Rotation: &fleetRotation{ID: "20261202-abcdef", Target: "cluster-ca", State: "active", Phase: "bundle", NextStep: "2", Next: "kubectl carotate instructions --step 2"},
			OtherRotations: []fleetRotation{{ID: "20261202-5a5a5a", Target: "sa-key", State: "active", Phase: "sign", NextStep: "2",
				Next: "kubectl carotate instructions --target sa-key --step 2"}},
			TookSeconds: 1.5},
		{Context: "lab", Server: "https://127.0.0.1:1", Error: "serving chain: no answer within 3s", TookSeconds: 3},
		{Context: "stage", Server: "https://st:6443", ServingCA: &caLife{Subject: "CN=kubernetes", Fingerprint: "00112233445566778899", DaysLeft: 700},
			RootCA: []caLife{{DaysLeft: 700}},
			OtherRotations: []fleetRotation{{ID: "20261201-fefefe", Target: "front-proxy-ca", State: "active", Phase: "done", NextStep: "finish",
				Next: "kubectl carotate finish --target front-proxy-ca"}},
			TookSeconds: 0.8},
	}}
}

func TestPrintFleet(t *testing.T) {
	var b bytes.Buffer
	if err := printFleet(&b, testFleet()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CONTEXT   SERVER                SERVING CA                         DAYS LEFT   ROOT CA DAYS LEFT   ROTATION                                                               TOOK   NEXT                                                                                                                               ERROR",
		"prod-eu   https://eu:6443       CN=kubernetes (0123456789abcdef)   89          89                  none                                                                   0.4s   -",
		"prod-us   https://us:6443       CN=kubernetes (fedcba9876543210)   3000        3000,90             20261202-abcdef (cluster-ca, bundle); 20261202-5a5a5a (sa-key, sign)   1.5s   cluster-ca step 2: kubectl carotate instructions --step 2; sa-key step 2: kubectl carotate instructions --target sa-key --step 2",
		"lab       https://127.0.0.1:1   -                                  -           -                   -                                                                      3.0s   -                                                                                                                                  serving chain: no answer within 3s",
		"stage     https://st:6443       CN=kubernetes (0011223344556677)   700         700                 20261201-fefefe (front-proxy-ca, done)                                 0.8s   kubectl carotate finish --target front-proxy-ca",
		"",
		"A CA expires within 90 days in: prod-eu",
	}
	got := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	for i := range got {
		got[i] = strings.TrimRight(got[i], " ")
	}
	for i := range want {
		want[i] = strings.TrimRight(want[i], " ")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("fleet table:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFleetJSON(t *testing.T) {
	b, err := json.Marshal(testFleet())
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Clusters []struct {
			Context        string
			ServingCA      *struct{ DaysLeft int }
			Rotation       *struct{ ID, Target, Phase, NextStep string }
			OtherRotations []struct{ ID, Target, Phase, NextStep string }
			Error          string
		}
		FailWithinDays int
		Expiring       []string
		Unread         []string
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Clusters) != 4 || len(back.Clusters[1].OtherRotations) != 1 || back.Clusters[1].OtherRotations[0].Target != "sa-key" ||
		back.Clusters[3].Rotation != nil || back.Clusters[3].OtherRotations[0].Phase != "done" || back.Clusters[0].ServingCA.DaysLeft != 89 || back.Clusters[1].Rotation.Target != "cluster-ca" ||
		back.Clusters[1].Rotation.NextStep != "2" || back.Clusters[2].Error == "" || back.FailWithinDays != 90 ||
		back.Expiring[0] != "prod-eu" || back.Unread[0] != "lab" {
		t.Fatalf("JSON: %s", b)
	}
}

func TestExpiresWithin(t *testing.T) {
	rows := testFleet().Rows
	for _, c := range []struct {
		row  int
		days int
		want bool
	}{{0, 90, true}, {0, 89, false}, {1, 91, true}, {1, 90, false}, {2, 1000, false}} {
		if got := rows[c.row].expiresWithin(c.days); got != c.want {
			t.Errorf("row %d within %d days: %v, want %v", c.row, c.days, got, c.want)
		}
	}
}

func TestFleetValidate(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Fleet: cmdutil.ContextFlags{All: true, Names: []string{"a"}}}, "go alone"},
		{Options{Fleet: cmdutil.ContextFlags{All: true}, Step: "2"}, "one row per cluster"},
		{Options{FailWithin: 30}, "--fail-within goes with"},
		{Options{Fleet: cmdutil.ContextFlags{All: true}, FailWithin: -1}, "must not be negative"},
	} {
		if err := c.o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	if err := (&Options{Fleet: cmdutil.ContextFlags{All: true}, FailWithin: 30}).Validate(); err != nil {
		t.Errorf("--all-contexts --fail-within 30: %v", err)
	}
}
