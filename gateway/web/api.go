package web

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
)

func (s *Server) handler(local bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", s.status)
	if local {
		mux.HandleFunc("POST /api/v1/components/{name}/restart", s.restart)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{$}", s.page)
	return mux
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.deps.Snapshot())
}

func (s *Server) restart(w http.ResponseWriter, r *http.Request) {
	if err := s.deps.Restart(r.Context(), r.PathValue("name")); err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"restarted": r.PathValue("name")})
}

// writeJSON renders into a buffer first so a failure never sends half a body.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "encoding state: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>branchgw status</title></head>
<body><h1>branchgw</h1><pre>{{.}}</pre></body></html>
`))

func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	b, _ := json.MarshalIndent(s.deps.Snapshot(), "", "  ")
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, string(b)); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}
