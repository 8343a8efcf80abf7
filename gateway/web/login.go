package web

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// login checks the technician password and opens a session. It takes JSON
// only: a cross-site HTML form cannot send that, so login CSRF is refused
// as well as by the SameSite cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.local {
		apiError(w, http.StatusBadRequest, "the local socket needs no login")
		return
	}
	if s.passwordHash() == "" {
		apiError(w, http.StatusServiceUnavailable, "no technician password is set (web.technician_password_hash)")
		return
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		apiError(w, http.StatusUnsupportedMediaType, "send the password as JSON: {\"password\": \"...\"}")
		return
	}
	var req struct {
		Password string `json:"password"`
	}
	if err := readJSON(r, &req); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Password == "" {
		apiError(w, http.StatusBadRequest, "password is empty")
		return
	}
	if d := s.auth.admit(clientIP(r)); d > 0 {
		tooMany(w, d)
		return
	}
	tok, sess, ok := s.auth.login(r, req.Password)
	if !ok {
		s.audit(r, "login_failed", "wrong technician password")
		apiError(w, http.StatusUnauthorized, "wrong password")
		return
	}
	s.audit(r, "login", "logged in")
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true,
		Secure: s.tls(), SameSite: http.SameSiteStrictMode, MaxAge: int(sessionMax.Seconds())})
	writeJSON(w, http.StatusOK, map[string]any{"logged_in": true, "csrf": sess.csrf})
}

// tooMany answers a locked-out client with how long to wait.
func tooMany(w http.ResponseWriter, d time.Duration) {
	secs := int(math.Ceil(d.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	apiError(w, http.StatusTooManyRequests, fmt.Sprintf("too many wrong passwords: try again in %d s", secs))
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if sess := s.auth.session(r); sess != nil {
		if !csrfOK(r, sess) {
			apiError(w, http.StatusForbidden, "missing or wrong "+csrfHeader+" header; reload the page")
			return
		}
		s.auth.logout(r)
		s.audit(r, "logout", "logged out")
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true,
		Secure: s.tls(), SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, map[string]bool{"logged_in": false})
}

// sessionInfo tells the page whether it is logged in and hands it the
// CSRF token again after a reload. Cross-origin pages cannot read it: the
// API sends no CORS headers.
func (s *Server) sessionInfo(w http.ResponseWriter, r *http.Request) {
	if s.local {
		writeJSON(w, http.StatusOK, map[string]any{"logged_in": true, "local": true})
		return
	}
	sess := s.auth.session(r)
	if sess == nil {
		writeJSON(w, http.StatusOK, map[string]any{"logged_in": false, "password_set": s.passwordHash() != ""})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"logged_in": true, "csrf": sess.csrf})
}
