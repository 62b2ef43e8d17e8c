// A Herald webhook receiver with nothing but the Go standard library.
//
// Every request must carry all of Herald's signatures, and each must verify over the raw body:
//
//	X-Mia-Signature   hex(sha256(body + secret))            (a "sha256=" prefix is accepted)
//	X-Mia-Token       the same value
//	X-Signature       hex(HMAC-SHA256(key = secret, body))
//	webhook-id, webhook-timestamp, webhook-signature
//	                  Standard Webhooks: space-separated "v1,<base64 HMAC-SHA256(key = secret,
//	                  "{id}.{timestamp}.{body}")>" entries; one verifying entry is enough.
//
// Replays are refused: the webhook-timestamp must be within five minutes of this machine's clock,
// a webhook-id is accepted once, and an eventTimestamp older than the newest accepted one is
// refused. The answer is 204 on success and 401 with a one-line reason otherwise.
//
//	HERALD_WEBHOOK_SECRET=... PORT=9000 go run .
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	tolerance    = 5 * time.Minute
	maxBodyBytes = 1 << 20
)

type rejected string

func (r rejected) Error() string { return string(r) }

// replayGuard is what has been accepted so far, kept in memory for the life of the process.
type replayGuard struct {
	mu                   sync.Mutex
	haveNewest           bool
	newestEventTimestamp float64
	seenIDs              map[string]int64 // webhook-id -> webhook-timestamp it was accepted with
}

func (g *replayGuard) admit(id string, timestamp int64, eventTimestamp float64, now int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	// An id older than the tolerance would be refused by its timestamp anyway.
	for seen, at := range g.seenIDs {
		if at < now-2*int64(tolerance/time.Second) {
			delete(g.seenIDs, seen)
		}
	}
	if _, ok := g.seenIDs[id]; ok {
		return rejected("webhook-id already seen (replay)")
	}
	if g.haveNewest && eventTimestamp < g.newestEventTimestamp {
		return rejected("eventTimestamp is older than the newest accepted event (replay)")
	}
	g.seenIDs[id] = timestamp
	g.haveNewest = true
	g.newestEventTimestamp = eventTimestamp
	return nil
}

// oneHeader returns the header's single value; a missing or repeated header is refused.
func oneHeader(r *http.Request, name string) (string, error) {
	values := r.Header.Values(name)
	if len(values) == 0 {
		return "", rejected("missing " + name + " header")
	}
	if len(values) > 1 {
		return "", rejected("repeated " + name + " header")
	}
	return strings.TrimSpace(values[0]), nil
}

func hexValue(value string) string {
	if len(value) >= 7 && strings.EqualFold(value[:7], "sha256=") {
		value = value[7:]
	}
	return strings.ToLower(value)
}

// same compares in constant time (for equal lengths; the length is not secret).
func same(expected, received string) bool {
	return subtle.ConstantTimeCompare([]byte(expected), []byte(received)) == 1
}

func checkHex(r *http.Request, name, expected string) error {
	value, err := oneHeader(r, name)
	if err != nil {
		return err
	}
	if !same(expected, hexValue(value)) {
		return rejected(name + " does not verify")
	}
	return nil
}

// verify checks every scheme and returns the webhook-id and webhook-timestamp.
func verify(r *http.Request, secret, body []byte, now int64) (string, int64, error) {
	if len(secret) == 0 {
		return "", 0, rejected("no secret configured (set HERALD_WEBHOOK_SECRET)")
	}

	digest := sha256.Sum256(append(append([]byte{}, body...), secret...))
	console := hex.EncodeToString(digest[:])
	if err := checkHex(r, "X-Mia-Signature", console); err != nil {
		return "", 0, err
	}
	if err := checkHex(r, "X-Mia-Token", console); err != nil {
		return "", 0, err
	}

	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if err := checkHex(r, "X-Signature", hex.EncodeToString(mac.Sum(nil))); err != nil {
		return "", 0, err
	}

	id, err := oneHeader(r, "webhook-id")
	if err != nil {
		return "", 0, err
	}
	timestampText, err := oneHeader(r, "webhook-timestamp")
	if err != nil {
		return "", 0, err
	}
	signatures, err := oneHeader(r, "webhook-signature")
	if err != nil {
		return "", 0, err
	}
	timestamp, err := strconv.ParseInt(timestampText, 10, 64)
	if err != nil || timestamp < 0 || strings.HasPrefix(timestampText, "+") {
		return "", 0, rejected("webhook-timestamp is not whole unix seconds")
	}
	standard := hmac.New(sha256.New, secret)
	standard.Write([]byte(id + "." + timestampText + "."))
	standard.Write(body)
	expected := base64.StdEncoding.EncodeToString(standard.Sum(nil))
	matched := false
	for _, entry := range strings.Split(signatures, " ") {
		version, signature, found := strings.Cut(entry, ",")
		// Look at every entry, so the time taken does not tell which one matched.
		if found && version == "v1" && same(expected, signature) {
			matched = true
		}
	}
	if !matched {
		return "", 0, rejected("webhook-signature does not verify")
	}
	if skew := now - timestamp; skew > int64(tolerance/time.Second) || -skew > int64(tolerance/time.Second) {
		return "", 0, rejected("webhook-timestamp is more than five minutes away")
	}
	return id, timestamp, nil
}

type event struct {
	EventName      string   `json:"eventName"`
	EventTimestamp *float64 `json:"eventTimestamp"`
}

func handler(secret []byte, guard *replayGuard) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "send events with POST or PUT", http.StatusMethodNotAllowed)
			return
		}
		name, id, eventTimestamp, err := accept(r, secret, guard)
		if err != nil {
			var reason rejected
			if !errors.As(err, &reason) {
				reason = "malformed request"
			}
			http.Error(w, string(reason), http.StatusUnauthorized)
			return
		}
		fmt.Printf("accepted %s id=%s eventTimestamp=%s\n", name, id, strconv.FormatFloat(eventTimestamp, 'f', -1, 64))
		w.WriteHeader(http.StatusNoContent)
	}
}

func accept(r *http.Request, secret []byte, guard *replayGuard) (string, string, float64, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return "", "", 0, err
	}
	if len(body) > maxBodyBytes {
		return "", "", 0, rejected("body too large")
	}
	now := time.Now().Unix()
	id, timestamp, err := verify(r, secret, body, now)
	if err != nil {
		return "", "", 0, err
	}
	// Parse only what has been verified.
	var parsed event
	decoder := json.NewDecoder(bytes.NewReader(body))
	if err := decoder.Decode(&parsed); err != nil {
		return "", "", 0, rejected("body is not JSON")
	}
	if parsed.EventTimestamp == nil {
		return "", "", 0, rejected("body has no numeric eventTimestamp")
	}
	if err := guard.admit(id, timestamp, *parsed.EventTimestamp, now); err != nil {
		return "", "", 0, err
	}
	return parsed.EventName, id, *parsed.EventTimestamp, nil
}

func main() {
	secret := []byte(os.Getenv("HERALD_WEBHOOK_SECRET"))
	if len(secret) == 0 {
		log.Print("warning: HERALD_WEBHOOK_SECRET is not set; every request will be refused")
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "9000"
	}
	host := os.Getenv("HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	guard := &replayGuard{seenIDs: map[string]int64{}}
	address := host + ":" + port
	fmt.Printf("listening on http://%s\n", address)
	server := &http.Server{
		Addr:              address,
		Handler:           handler(secret, guard),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(server.ListenAndServe())
}
