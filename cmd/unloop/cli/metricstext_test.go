package cli

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// This file reads Prometheus's text format back, for what unloop writes,
// with a small parser of its own: a second reading beside prometheus/common's
// parser, which promhttp_test.go and tests/metrics (on the built binary) use.

// sample is one sample line: a metric name, its labels and its value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// metricsText is a parsed text: the samples, and each family's HELP.
type metricsText struct {
	samples []sample
	help    map[string]string
}

// parseSamples parses text or fails the test, naming the line.
func parseSamples(t *testing.T, text string) metricsText {
	t.Helper()
	mt := metricsText{help: map[string]string{}}
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("the text does not end with a line feed:\n%s", text)
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			mt.help[name] = strings.NewReplacer(`\\`, `\`, `\n`, "\n").Replace(help)
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			t.Fatalf("line %d %q: %v\n%s", i+1, line, err, text)
		}
		mt.samples = append(mt.samples, s)
	}
	return mt
}

// parseSample parses name{label="value",...} value.
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return s, fmt.Errorf("no metric name")
	}
	s.name, line = line[:end], line[end:]
	if rest, ok := strings.CutPrefix(line, "{"); ok {
		for line = rest; !strings.HasPrefix(line, "}"); {
			name, rest, ok := strings.Cut(line, `="`)
			if !ok || name == "" || strings.ContainsAny(name, `,}" `) {
				return s, fmt.Errorf("bad label at %q", line)
			}
			val, rest, err := unquote(rest)
			if err != nil {
				return s, err
			}
			s.labels[name] = val
			line = strings.TrimPrefix(rest, ",")
			if line == rest && !strings.HasPrefix(line, "}") {
				return s, fmt.Errorf("no comma or brace after label %s", name)
			}
		}
		line = line[1:]
	}
	v, ok := strings.CutPrefix(line, " ")
	if !ok {
		return s, fmt.Errorf("no space before the value")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return s, fmt.Errorf("value: %w", err)
	}
	s.value = f
	return s, nil
}

// unquote reads a label value up to its closing quote, undoing the text
// format's three escapes (\\, \" and \n), and returns the rest.
func unquote(s string) (string, string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i++; i == len(s) {
				return "", "", fmt.Errorf("a backslash ends the line")
			}
			switch s[i] {
			case '\\', '"':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			default:
				return "", "", fmt.Errorf("unknown escape \\%c", s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("no closing quote")
}

// value is the value of the sample of name whose labels include want.
func value(t *testing.T, mt metricsText, name string, want map[string]string) float64 {
	t.Helper()
next:
	for _, s := range mt.samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value
	}
	t.Fatalf("no %s%v", name, want)
	return 0
}
