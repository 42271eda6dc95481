package checks

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LogPattern is one known TLS failure, matched as a plain substring: the
// messages come from Go's crypto/tls and crypto/x509 (and OpenSSL-based
// clients quote the same words), so they are stable across releases.
type LogPattern struct {
	Name  string `json:"name"`
	Match string `json:"match"`
}

// TLSErrorPatterns are the failures a CA rotation causes when a client or
// a server trusts the wrong CA, or a certificate outlived its CA.
var TLSErrorPatterns = []LogPattern{
	{Name: "unknown-authority", Match: "x509: certificate signed by unknown authority"},
	{Name: "bad-certificate", Match: "tls: bad certificate"},
	{Name: "remote-tls-error", Match: "remote error: tls"},
	{Name: "expired", Match: "certificate has expired"},
	{Name: "rsa-verification", Match: "crypto/rsa: verification error"},
}

// LogScanMaxLine bounds the part of one line that is kept and searched. A
// log line longer than this (a dumped object) is searched in its first
// LogScanMaxLine bytes only, so memory stays bounded whatever a pod logs.
const LogScanMaxLine = 64 * 1024

// logScanSampleMax is the length of a sample line: enough to read the message
// and the peer, short enough for a table cell.
const logScanSampleMax = 240

// LogMatch counts the lines matching one pattern.
type LogMatch struct {
	Pattern string `json:"pattern"`
	Match   string `json:"match"`
	Lines   int    `json:"lines"`
	// Sample is the last matching line, trimmed around the match and with
	// control characters replaced.
	Sample string `json:"sample"`
}

// LogScan is the result of scanning one log.
type LogScan struct {
	Lines int `json:"lines"`
	// MatchedLines counts lines matching any pattern once; a line can match
	// several patterns ("remote error: tls: bad certificate").
	MatchedLines int        `json:"matchedLines"`
	Matches      []LogMatch `json:"matches"`
	// LongLines counts lines cut at LogScanMaxLine.
	LongLines int `json:"longLines,omitempty"`
}

// ScanLog reads r to the end and counts the lines matching each pattern,
// keeping the last matching line of each as a sample. Matches are listed
// in the order of patterns; patterns that never match are left out.
func ScanLog(r io.Reader, patterns []LogPattern) (LogScan, error) {
	var s LogScan
	counts := make([]LogMatch, len(patterns))
	br := bufio.NewReaderSize(r, 32*1024)
	line := make([]byte, 0, 4096)
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(chunk) > 0 || isPrefix || err == nil {
			room := LogScanMaxLine - len(line)
			if room > 0 {
				if len(chunk) > room {
					chunk = chunk[:room]
				}
				line = append(line, chunk...)
			}
			if isPrefix {
				continue
			}
			logScanLine(&s, counts, patterns, line)
			line = line[:0]
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return logScanFinish(s, counts), err
		}
	}
	return logScanFinish(s, counts), nil
}

func logScanLine(s *LogScan, counts []LogMatch, patterns []LogPattern, line []byte) {
	s.Lines++
	if len(line) >= LogScanMaxLine {
		s.LongLines++
	}
	text := string(line)
	matched := false
	for i, p := range patterns {
		idx := strings.Index(text, p.Match)
		if idx < 0 {
			continue
		}
		matched = true
		counts[i].Pattern, counts[i].Match = p.Name, p.Match
		counts[i].Lines++
		counts[i].Sample = logScanSample(text, idx, len(p.Match))
	}
	if matched {
		s.MatchedLines++
	}
}

func logScanFinish(s LogScan, counts []LogMatch) LogScan {
	s.Matches = []LogMatch{}
	for _, c := range counts {
		if c.Lines > 0 {
			s.Matches = append(s.Matches, c)
		}
	}
	return s
}

// logScanSample cuts line to logScanSampleMax bytes around the match at idx, marks
// cuts with "...", and makes it safe for a terminal.
func logScanSample(line string, idx, n int) string {
	line = strings.TrimRight(line, "\r")
	start, end := 0, len(line)
	if end-start > logScanSampleMax {
		// Keep some context before the match (who failed to talk to whom
		// usually comes first in the message) and the match itself.
		start = max(0, idx-(logScanSampleMax-n)/2)
		end = min(len(line), start+logScanSampleMax)
		start = max(0, end-logScanSampleMax)
	}
	for start > 0 && start < len(line) && !utf8.RuneStart(line[start]) {
		start++
	}
	for end < len(line) && end > start && !utf8.RuneStart(line[end]) {
		end--
	}
	out := strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, line[start:end])
	if start > 0 {
		out = "..." + out
	}
	if end < len(line) {
		out += "..."
	}
	return strings.TrimSpace(out)
}
