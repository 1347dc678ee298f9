package gitsource

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
)

// WebhookPath is where the hub mounts WebhookHandler.
const WebhookPath = "/hooks/git"

// SignatureHeader carries the webhook's signature: "sha256=" followed by the
// hex HMAC-SHA256 of the body under Config.WebhookSecret (GitHub's and
// Gitea's format).
const SignatureHeader = "X-Hub-Signature-256"

// maxWebhookBody bounds the body read to check its signature; push payloads
// of big pushes stay far below it.
const maxWebhookBody = 4 << 20

// WebhookHandler returns the handler of POST WebhookPath. A request whose
// signature matches triggers a fetch at once (202 Accepted); the payload is
// not otherwise read, because the fetch finds what changed. Answers: 405 for
// other methods, 404 when no secret is configured, 413 for a body over 4 MiB,
// 401 for a missing or wrong signature.
func (s *Source) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if s.cfg.WebhookSecret == "" {
			http.Error(w, "webhook disabled: no secret configured", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if !validSignature(s.cfg.WebhookSecret, body, r.Header.Get(SignatureHeader)) {
			s.log.Warn("webhook signature rejected", "remote", r.RemoteAddr)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		s.Trigger()
		w.WriteHeader(http.StatusAccepted)
	})
}

// validSignature checks "sha256=<hex>" in constant time.
func validSignature(secret string, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
