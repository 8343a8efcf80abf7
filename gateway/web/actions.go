package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// actionTimeout bounds a button's work; long work runs in the background.
const actionTimeout = 20 * time.Second

// maxForce caps a forced WAN choice: a forgotten override must end.
const maxForce = 24 * 60

// actionError maps an action's error to a response.
func actionError(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, ErrUnsupported):
		apiError(w, http.StatusNotImplemented, what+": "+err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		apiError(w, http.StatusGatewayTimeout, what+": timed out")
	default:
		apiError(w, http.StatusInternalServerError, what+": "+err.Error())
	}
}

// wanName checks the path's WAN against the ones the daemon reports.
func (s *Server) wanName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	f := s.current(w)
	if f == nil {
		return "", false
	}
	var names []string
	for _, x := range f.st.WANs {
		names = append(names, x.Name)
	}
	if !slices.Contains(names, name) {
		have := "none is reported"
		if len(names) > 0 {
			have = "have " + strings.Join(names, ", ")
		}
		apiError(w, http.StatusNotFound, fmt.Sprintf("no WAN named %q (%s)", name, have))
		return "", false
	}
	return name, true
}

func (s *Server) testWAN(w http.ResponseWriter, r *http.Request) {
	name, ok := s.wanName(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	s.audit(r, "action", "test WAN %s", name)
	res, err := s.deps.Actions.TestWAN(ctx, name)
	if err != nil {
		actionError(w, "test "+name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"wan": name, "result": res})
}

func (s *Server) forceWAN(w http.ResponseWriter, r *http.Request) {
	var req struct {
		// Minutes to keep traffic on this WAN; 0 returns to automatic.
		Minutes *int `json:"minutes"`
	}
	if err := readJSON(r, &req); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Minutes == nil || *req.Minutes < 0 || *req.Minutes > maxForce {
		apiError(w, http.StatusBadRequest, fmt.Sprintf(`give {"minutes": N} with N from 1 to %d, or 0 for automatic`, maxForce))
		return
	}
	name, ok := s.wanName(w, r)
	if !ok {
		return
	}
	d := time.Duration(*req.Minutes) * time.Minute
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	if d == 0 {
		s.audit(r, "action", "WAN choice back to automatic (was forcing %s)", name)
	} else {
		s.audit(r, "action", "force all traffic onto %s for %d min", name, *req.Minutes)
	}
	if err := s.deps.Actions.ForceWAN(ctx, name, d); err != nil {
		actionError(w, "force "+name, err)
		return
	}
	resp := map[string]any{"wan": name, "minutes": *req.Minutes}
	if d > 0 {
		resp["until"] = s.deps.Now().Add(d)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) restart(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if f := s.hub.current(time.Second); f.st != nil && len(f.st.Components) > 0 &&
		!slices.ContainsFunc(f.st.Components, func(c Component) bool { return c.Name == name }) {
		var names []string
		for _, c := range f.st.Components {
			names = append(names, c.Name)
		}
		apiError(w, http.StatusNotFound, fmt.Sprintf("no component %q (have %s)", name, strings.Join(names, ", ")))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	s.audit(r, "action", "restart component %s", name)
	if err := s.deps.Actions.Restart(ctx, name); err != nil {
		if strings.Contains(err.Error(), "no component") {
			apiError(w, http.StatusNotFound, err.Error())
			return
		}
		actionError(w, "restart "+name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"restarted": name})
}

func (s *Server) reboot(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Confirm bool `json:"confirm"`
	}
	if err := readJSON(r, &req); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !req.Confirm {
		apiError(w, http.StatusBadRequest, `a reboot stops the store's internet for a minute or two: send {"confirm": true}`)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	s.audit(r, "action", "reboot")
	if err := s.deps.Actions.Reboot(ctx); err != nil {
		actionError(w, "reboot", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"rebooting": "now"})
}
