package drill

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// responseDelay is the relay's one-way latency from the API server to the
// client. Far longer than the chaos drill takes from seeing a write
// through its own watch to the kill, it makes every kill land between a
// write and its acknowledgment: the hardest moment for exactly-once.
const responseDelay = 100 * time.Millisecond

// apiProxy is a TCP relay between the plugin and the API server (TLS goes
// through untouched), 100 ms away from the client (responseDelay). It lets the chaos drill see from outside the plugin
// what a kill did to the plugin's connections: which were open (and so cut
// by the kill: a watch or request on them failed), which the plugin opened
// afterwards (it carried on: it retried), and which of those found no API
// server (the relay's dial failed and it closed the connection at once,
// which the plugin sees like "connection refused").
type apiProxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	accepted []time.Time // relayed connections, when the plugin opened them
	refused  []time.Time // connections that found no API server
	conns    map[net.Conn]bool
	live     int // relayed connections open now
	wg       sync.WaitGroup
}

// newAPIProxy relays 127.0.0.1:<free port> to server (https://host:port).
func newAPIProxy(server string) (*apiProxy, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &apiProxy{ln: ln, target: u.Host, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// URL is the relay's address, for a kubeconfig: the API server's serving
// certificate names 127.0.0.1, whatever the port.
func (p *apiProxy) URL() string { return "https://" + p.ln.Addr().String() }

func (p *apiProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go p.relay(c)
	}
}

func (p *apiProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *apiProxy) relay(c net.Conn) {
	defer p.wg.Done()
	p.track(c, true)
	defer p.track(c, false)
	defer c.Close()
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	p.mu.Lock()
	p.accepted = append(p.accepted, time.Now())
	if err != nil {
		p.refused = append(p.refused, time.Now())
	} else {
		p.live++
	}
	p.mu.Unlock()
	if err != nil {
		return
	}
	defer func() {
		p.mu.Lock()
		p.live--
		p.mu.Unlock()
	}()
	p.track(up, true)
	defer p.track(up, false)
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { p.delayed(c, up); done <- struct{}{} }()
	<-done // either side gone (a killed API server resets its end): close both
}

// delayed copies up to c, each chunk responseDelay after it arrived, as
// from a distant API server. When up ends, what is still on its way is
// dropped: a response the API server sent just before it was killed never
// arrives, so the client cannot know whether its request was applied.
func (p *apiProxy) delayed(c, up net.Conn) {
	type chunk struct {
		at   time.Time
		data []byte
	}
	q := make(chan chunk, 4096)
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		buf := make([]byte, 32*1024)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				q <- chunk{time.Now(), append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-gone:
			return
		case ch := <-q:
			select {
			case <-gone:
				return
			case <-time.After(time.Until(ch.at.Add(responseDelay))):
			}
			if _, err := c.Write(ch.data); err != nil {
				return
			}
		}
	}
}

// open is the number of relayed connections open now.
func (p *apiProxy) open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live
}

// between counts the connections opened in [from, to], and those of them
// that found no API server.
func (p *apiProxy) between(from, to time.Time) (opened, refused int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := func(t time.Time) bool { return !t.Before(from) && !t.After(to) }
	for _, t := range p.accepted {
		if in(t) {
			opened++
		}
	}
	for _, t := range p.refused {
		if in(t) {
			refused++
		}
	}
	return opened, refused
}

// kubeconfig writes a copy of the kubeconfig at path whose clusters point
// at the relay.
func (p *apiProxy) kubeconfig(path, dir string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return "", err
	}
	for _, c := range cfg.Clusters {
		c.Server = p.URL()
	}
	out := filepath.Join(dir, fmt.Sprintf("via-relay-%d.conf", time.Now().UnixNano()))
	return out, clientcmd.WriteToFile(*cfg, out)
}

// close stops accepting, cuts every relayed connection and waits for the
// relay's goroutines.
func (p *apiProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
