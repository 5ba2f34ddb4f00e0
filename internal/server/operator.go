package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/trent-kms/trent/internal/backup"
	"github.com/trent-kms/trent/internal/barrier"
	"github.com/trent-kms/trent/internal/keyring/shamir"
	"github.com/trent-kms/trent/internal/kmserr"
	"github.com/trent-kms/trent/internal/requestid"
)

// Operator endpoints (JSON in and out, errors as {"error": "..."}):
//
//	GET  /trent/operator/status   seal state, data keys, rewrap progress     no authentication
//	POST /trent/operator/init     {"shares":N,"threshold":T} (shamir, once)  no authentication: only while uninitialised
//	POST /trent/operator/unseal   {"share":"..."} | {"reset":true} | {}       the share is the credential
//	POST /trent/operator/seal                                                 administrator (SigV4)
//	POST /trent/operator/rotate   {"root":bool}                               administrator (SigV4)
//	GET  /trent/operator/backup   streams a backup (see internal/backup)      administrator (SigV4)
//
// SigV4 requests are signed as for the KMS API (signing name "kms").
const operatorPrefix = "/trent/operator/"

const maxOperatorBody = 16 << 10

func (s *Server) operatorRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+operatorPrefix+"status", s.handleStatus)
	mux.HandleFunc("POST "+operatorPrefix+"init", s.handleInit)
	mux.HandleFunc("POST "+operatorPrefix+"unseal", s.handleUnseal)
	mux.HandleFunc("POST "+operatorPrefix+"seal", s.admin(s.handleSeal))
	mux.HandleFunc("POST "+operatorPrefix+"rotate", s.admin(s.handleRotate))
	mux.HandleFunc("GET "+operatorPrefix+"backup", s.admin(s.handleBackup))
}

type operatorError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b)
	w.Write([]byte("\n"))
}

func writeOpError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, operatorError{Error: err.Error()})
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOperatorBody))
	if err != nil {
		return nil, errors.New("request body unreadable or larger than 16 KiB")
	}
	if len(body) > 0 && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return body, errors.New("request body is not the expected JSON object")
		}
	}
	return body, nil
}

// admin wraps a handler that needs an administrator's SigV4 signature.
// While sealed there is no identity to check against: 503.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		svc := s.svc.Load()
		if svc == nil {
			writeOpError(w, http.StatusServiceUnavailable, errors.New("sealed: unseal first"))
			return
		}
		body, err := readJSON(w, r, nil)
		if err != nil {
			writeOpError(w, http.StatusBadRequest, err)
			return
		}
		res, err := svc.verifier.Verify(r, body)
		if err == nil && !res.Principal.IsRoot() {
			err = kmserr.ErrAccessDenied.With("%s is not an administrator", res.Principal.ARN)
		}
		reqID := requestid.New() // the audit record's, in the answer and the log
		w.Header()["X-Amzn-Requestid"] = []string{reqID}
		if aerr := svc.auditAdmin(r, reqID, res, err); aerr != nil {
			s.log.Error("server: operator request refused: audit record failed", "request_id", reqID, "path", r.URL.Path, "err", aerr)
			writeOpError(w, http.StatusInternalServerError, errors.New("the audit log cannot be written"))
			return
		}
		if err != nil {
			var ke *kmserr.Error
			if errors.As(err, &ke) {
				err = errors.New(ke.Code + ": " + ke.Message)
			}
			writeOpError(w, http.StatusForbidden, err)
			return
		}
		s.log.Warn("server: operator request", "request_id", reqID, "path", r.URL.Path, "principal", res.Principal.ARN, "access_key_id", res.AccessKeyID)
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
	}
}

// StatusBody is GET /trent/operator/status.
type StatusBody struct {
	UnsealStatus
	DataKey  uint32                  `json:"data_key,omitempty"`
	DataKeys []uint32                `json:"data_keys,omitempty"`
	Rewrap   *barrier.RewrapProgress `json:"rewrap,omitempty"`
	// Cluster describes a node sharing its database with others (the
	// rewrap runs on the leader: another node reports no progress).
	Cluster *ClusterStatus `json:"cluster,omitempty"`
}

func (s *Server) statusBody(ctx context.Context) (StatusBody, error) {
	st, err := s.Status(ctx)
	if err != nil {
		return StatusBody{}, err
	}
	body := StatusBody{UnsealStatus: st}
	if bst, err := s.state.barrier.Status(ctx); err == nil {
		body.DataKey, body.DataKeys = bst.DataKey, bst.DataKeys
	}
	if p := s.state.barrier.Progress(); p.Target != 0 {
		if p.Error != "" {
			p.Error = "the rewrap stopped" + seeLog
		}
		body.Rewrap = &p
	}
	body.Cluster = s.svc.Load().clusterStatus(s.cfg.NodeID)
	return body, nil
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	body, err := s.statusBody(r.Context())
	if err != nil {
		s.log.Error("server: status", "err", err)
		writeOpError(w, http.StatusInternalServerError, errors.New("storage error"))
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// InitBody is the answer of POST /trent/operator/init: shown once.
type InitBody struct {
	Shares          []string `json:"shares"`
	Threshold       int      `json:"threshold"`
	AccessKeyID     string   `json:"access_key_id"`
	SecretAccessKey string   `json:"secret_access_key"`
	AccountID       string   `json:"account_id"`
	// Storage is the server's storage, "bolt" or "postgres" (empty from
	// older servers: bolt), for the client's hints.
	Storage string `json:"storage"`
	// Error: initialised, but the services did not start (the server is
	// sealed); the shares above still unseal it. Without an administrator
	// above, the unseal that starts the services writes its credentials to
	// the data directory of the node that it unseals.
	Error string `json:"error,omitempty"`
}

func (s *Server) handleInit(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Shares    int `json:"shares"`
		Threshold int `json:"threshold"`
	}
	if _, err := readJSON(w, r, &in); err != nil {
		writeOpError(w, http.StatusBadRequest, err)
		return
	}
	if s.cfg.Seal == SealShamir {
		if st, err := s.state.barrier.Status(r.Context()); err == nil && st.Initialized {
			writeOpError(w, http.StatusConflict, errors.New("already initialised"))
			return
		}
	}
	shares, admin, err := s.InitShamir(r.Context(), in.Shares, in.Threshold)
	switch {
	case errors.Is(err, errWrongSeal), errors.Is(err, shamir.ErrParams):
		writeOpError(w, http.StatusBadRequest, err)
		return
	case errors.Is(err, barrier.ErrInitialized):
		writeOpError(w, http.StatusConflict, errors.New("already initialised"))
		return
	case errors.Is(err, errNotStarted):
		// The barrier is initialised: the shares are its only key, so they
		// go out with the failure (its cause only in the server's log).
	case err != nil:
		s.log.Error("server: init", "err", err)
		writeOpError(w, http.StatusInternalServerError, errors.New("initialisation failed: see the server log"))
		return
	}
	body := InitBody{Shares: shares, Threshold: in.Threshold, Storage: s.cfg.Storage}
	if err != nil {
		body.Error = fmt.Sprintf("initialised, but the services did not start (see the server log): the server is sealed; fix the cause, then unseal it with any %d of these shares", in.Threshold)
	}
	if admin != nil {
		body.AccessKeyID, body.SecretAccessKey, body.AccountID = admin.AccessKeyID, admin.Secret.Reveal(), admin.AccountID
	}
	writeJSON(w, http.StatusOK, body)
	clear(shares) // drop our references (strings cannot be wiped)
}

func (s *Server) handleUnseal(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Share string `json:"share"`
		Reset bool   `json:"reset"`
	}
	if _, err := readJSON(w, r, &in); err != nil {
		writeOpError(w, http.StatusBadRequest, err)
		return
	}
	if in.Reset {
		s.sealMu.Lock()
		if s.state.pending != nil {
			s.state.pending.Reset()
		}
		s.sealMu.Unlock()
	}
	var st UnsealStatus
	var err error
	if in.Reset && in.Share == "" && s.cfg.Seal == SealShamir {
		st, err = s.Status(r.Context()) // a reset alone submits nothing
	} else {
		st, err = s.Unseal(r.Context(), in.Share)
	}
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, st)
	case errors.Is(err, barrier.ErrNotInitialized):
		writeOpError(w, http.StatusConflict, err)
	case errors.Is(err, shamir.ErrShare), errors.Is(err, errWrongSeal):
		writeJSON(w, http.StatusBadRequest, struct {
			operatorError
			UnsealStatus
		}{operatorError{err.Error()}, st})
	default:
		s.log.Error("server: unseal", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, struct {
			operatorError
			UnsealStatus
		}{operatorError{"unseal failed: " + err.Error()}, st})
	}
}

func (s *Server) handleSeal(w http.ResponseWriter, r *http.Request) {
	if err := s.Seal(); err != nil {
		s.log.Error("server: seal", "err", err)
		writeOpError(w, http.StatusInternalServerError, errors.New("seal failed: see the server log"))
		return
	}
	body, _ := s.statusBody(r.Context())
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleRotate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Root bool `json:"root"`
	}
	if _, err := readJSON(w, r, &in); err != nil {
		writeOpError(w, http.StatusBadRequest, err)
		return
	}
	if err := s.Rotate(r.Context(), in.Root); err != nil {
		s.log.Error("server: rotate", "err", err)
		writeOpError(w, http.StatusInternalServerError, errors.New("rotation failed: "+err.Error()))
		return
	}
	body, _ := s.statusBody(r.Context())
	writeJSON(w, http.StatusOK, body)
}

// Rotate adds a data-key version (new writes use it at once) and starts the
// background rewrap of older records; with root it first replaces the root
// key (the seal wraps the new one, the data keyring is re-encrypted).
func (s *Server) Rotate(ctx context.Context, root bool) error {
	s.sealMu.Lock()
	defer s.sealMu.Unlock()
	if s.svc.Load() == nil {
		return barrier.ErrSealed
	}
	b := s.state.barrier
	if root {
		if err := b.RotateRootKey(ctx); err != nil {
			return err
		}
		s.log.Warn("server: root key rotated")
	}
	v, err := b.RotateDataKey(ctx)
	if err != nil {
		return err
	}
	if svc := s.svc.Load(); svc != nil && svc.cluster != nil {
		// The leader rewraps (this node, or another one that learns of
		// the new keyring from the database).
		s.log.Warn("server: data key rotated; the leading node rewraps the records in the background", "data_key", v)
		svc.cluster.wake()
		return nil
	}
	s.log.Warn("server: data key rotated; rewrapping records in the background", "data_key", v)
	go s.rewrap(s.bgCtx)
	return nil
}

// handleBackup streams a backup of the store as stored (records sealed):
// one read transaction, writers go on meanwhile.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	b := s.state.barrier
	h := backup.Header{Created: time.Now().UTC(), Seal: b.Kind(), Extra: s.backupExtra(s.svc.Load())}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="trent.backup"`)
	// No deadline for the stream: a backup of a large store takes longer
	// than WriteTimeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	n, err := backup.Write(r.Context(), w, b.Inner(), h, b.BackupMAC)
	if err != nil {
		// Headers are gone: the missing trailer makes the backup fail to
		// restore.
		s.log.Error("server: backup failed", "err", err)
		return
	}
	s.log.Info("server: backup written", "records", n)
}

// backupExtra returns the small facts of other parts that a backup carries:
// the audit chain's head (the audit files live beside the database, not in
// it), so a restore can be matched with the audit log of its time.
func (s *Server) backupExtra(svc *services) map[string]string {
	if svc == nil || svc.audit == nil {
		return nil
	}
	seq, chain := svc.audit.Head()
	return map[string]string{"audit_seq": strconv.FormatUint(seq, 10), "audit_chain": hex.EncodeToString(chain[:])}
}
