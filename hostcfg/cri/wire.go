package cri

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// CRI is gRPC: HTTP/2 POSTs of length-prefixed protobuf messages, the status
// in the trailers. unloop makes three unary calls, so it speaks that much of
// it through net/http's HTTP/2 and protowire, which the binary has anyway:
// grpc-go and cri-api's generated package would add about 4 MB to every
// command's memory and a millisecond to its start (check --offline), for
// calls only apply and an online check make. The tests run this client
// against grpc-go's server with cri-api's own types, and tests/e2e against
// containerd. Field numbers: k8s.io/cri-api pkg/apis/runtime/v1/api.proto.

const service = "/runtime.v1.RuntimeService/"

// maxMessage bounds a response: a node's sandbox list is a few KB per pod.
const maxMessage = 16 << 20

// call makes one unary call of method with the encoded request and returns
// the encoded response.
func (c *Client) call(ctx context.Context, method string, req []byte) ([]byte, error) {
	body := make([]byte, 5, 5+len(req))
	binary.BigEndian.PutUint32(body[1:], uint32(len(req)))
	body = append(body, req...)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://cri"+service+method, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/grpc")
	r.Header.Set("TE", "trailers")
	if d, ok := ctx.Deadline(); ok {
		r.Header.Set("Grpc-Timeout", fmt.Sprintf("%dm", max(1, time.Until(d).Milliseconds())))
	}
	resp, err := c.http.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", method, resp.Status)
	}
	var head [5]byte
	msg := []byte{}
	_, herr := io.ReadFull(resp.Body, head[:])
	if herr == nil {
		n := binary.BigEndian.Uint32(head[1:])
		if head[0] != 0 || n > maxMessage {
			return nil, fmt.Errorf("%s: a compressed or %d-byte answer", method, n)
		}
		msg = make([]byte, n)
		if _, err := io.ReadFull(resp.Body, msg); err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10)) // to the trailers
	// A trailers-only answer (an error) has its status in the headers.
	status, message := resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message")
	if status == "" {
		status, message = resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	}
	if status != "0" {
		return nil, fmt.Errorf("%s: grpc status %s: %s", method, status, message)
	}
	if herr != nil {
		return nil, fmt.Errorf("%s: no answer: %w", method, herr)
	}
	return msg, nil
}

// Requests.

func idRequest(id string) []byte {
	return protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), id)
}

// listRequest is a ListPodSandboxRequest; with labels, its filter's
// label_selector.
func listRequest(labels map[string]string) []byte {
	if len(labels) == 0 {
		return nil
	}
	var filter []byte
	for k, v := range labels {
		var entry []byte
		entry = protowire.AppendString(protowire.AppendTag(entry, 1, protowire.BytesType), k)
		entry = protowire.AppendString(protowire.AppendTag(entry, 2, protowire.BytesType), v)
		filter = protowire.AppendBytes(protowire.AppendTag(filter, 3, protowire.BytesType), entry)
	}
	return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), filter)
}

// Responses.

// fields calls fn with each field of msg; an unknown field is skipped.
func fields(msg []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(msg) > 0 {
		num, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return protowire.ParseError(l)
		}
		msg = msg[l:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(msg)
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(msg)
		default:
			l = protowire.ConsumeFieldValue(num, typ, msg)
		}
		if l < 0 {
			return protowire.ParseError(l)
		}
		msg = msg[l:]
		if err := fn(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

// parseList reads a ListPodSandboxResponse.
func parseList(msg []byte) ([]Sandbox, error) {
	var out []Sandbox
	err := fields(msg, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		s, err := parseSandbox(v)
		out = append(out, s)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the runtime's sandbox list: %w", err)
	}
	return out, nil
}

// parseSandbox reads a PodSandbox; state 0 (absent) is SANDBOX_READY.
func parseSandbox(msg []byte) (Sandbox, error) {
	s := Sandbox{Ready: true, Labels: map[string]string{}, Annotations: map[string]string{}}
	err := fields(msg, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			s.ID = string(v)
		case num == 2 && typ == protowire.BytesType:
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ == protowire.BytesType {
					switch num {
					case 1:
						s.Name = string(v)
					case 2:
						s.UID = string(v)
					case 3:
						s.Namespace = string(v)
					}
				}
				return nil
			})
		case num == 3 && typ == protowire.VarintType:
			s.Ready = n == 0
		case num == 4 && typ == protowire.VarintType:
			s.CreatedAt = time.Unix(0, int64(n))
		case (num == 5 || num == 6) && typ == protowire.BytesType:
			m := s.Labels
			if num == 6 {
				m = s.Annotations
			}
			var k, val string
			if err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ == protowire.BytesType && num == 1 {
					k = string(v)
				} else if typ == protowire.BytesType && num == 2 {
					val = string(v)
				}
				return nil
			}); err != nil {
				return err
			}
			m[k] = val
		}
		return nil
	})
	return s, err
}
