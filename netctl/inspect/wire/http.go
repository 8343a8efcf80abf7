package wire

import "bytes"

// HTTPRequest is the request line and Host header of an HTTP/1.x request.
// Its slices alias the packet and are valid until the next decode.
type HTTPRequest struct {
	Method []byte
	Target []byte
	Host   []byte
}

// httpMethods are the methods recognised at the start of a TCP payload;
// anything else is not treated as HTTP.
var httpMethods = [...]string{"GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT"}

const maxRequestLine = 4096

// LooksLikeHTTPRequest reports whether b starts with an HTTP method and a space.
func LooksLikeHTTPRequest(b []byte) bool {
	for _, m := range httpMethods {
		if len(b) > len(m) && b[len(m)] == ' ' && string(b[:len(m)]) == m {
			return true
		}
	}
	return false
}

// ParseHTTPRequest parses the request line and the Host header from the
// start of one TCP payload. It reports false when b does not hold a
// complete, well-formed request line; a Host header cut off by the segment
// end is left empty. Nothing is allocated.
func ParseHTTPRequest(b []byte, r *HTTPRequest) bool {
	*r = HTTPRequest{}
	if !LooksLikeHTTPRequest(b) {
		return false
	}
	eol := bytes.IndexByte(b[:min(len(b), maxRequestLine)], '\n')
	if eol < 0 {
		return false
	}
	line := bytes.TrimSuffix(b[:eol], []byte{'\r'})
	sp1 := bytes.IndexByte(line, ' ')
	rest := line[sp1+1:]
	sp2 := bytes.LastIndexByte(rest, ' ')
	if sp2 <= 0 || !bytes.HasPrefix(rest[sp2+1:], []byte("HTTP/1.")) {
		return false
	}
	r.Method, r.Target = line[:sp1], rest[:sp2]
	hdrs := b[eol+1:]
	for len(hdrs) > 0 {
		e := bytes.IndexByte(hdrs, '\n')
		if e < 0 {
			break // header cut by the segment end
		}
		h := bytes.TrimSuffix(hdrs[:e], []byte{'\r'})
		if len(h) == 0 {
			break // end of headers
		}
		if len(h) > 5 && h[4] == ':' && asciiEqualFold(h[:4], "host") {
			host := bytes.TrimSpace(h[5:])
			host = stripPort(host)
			if ValidHostname(host) {
				r.Host = host
			}
			break
		}
		hdrs = hdrs[e+1:]
	}
	return true
}

// stripPort removes a trailing ":port" from a Host header value.
func stripPort(h []byte) []byte {
	if i := bytes.LastIndexByte(h, ':'); i >= 0 && bytes.IndexByte(h, ']') < 0 {
		return h[:i]
	}
	return h
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
