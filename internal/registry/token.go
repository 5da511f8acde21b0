// Package registry runs the classroom registry: Debian's docker-registry
// (CNCF distribution 2.8) in a container on the host's Docker, with the
// platform as its token server. Students `docker login` with their platform
// username and an access token made in the platform; they may push and pull
// their own namespace (<username>/…), everyone may pull library/…, and
// instructors may pull everything. The sandboxes' inner dockerds use it as
// their registry mirror, so `docker pull nginx` works offline.
//
// Measured facts behind the token format: shared/notes/classroom-registry.md.
package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Access is one grant of a token: what may be done to one resource.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// claims are what distribution 2.8 reads (registry/auth/token/token.go).
// Its claim struct declares Audience as a plain string: a list of
// audiences, as many JWT libraries write, is rejected.
type claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	Expiry    int64    `json:"exp"`
	NotBefore int64    `json:"nbf"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	Access    []Access `json:"access"`
}

// Signer signs registry tokens with an ECDSA P-256 key (ES256). The
// registry trusts tokens whose header names the key by its libtrust key
// id (kid) and finds that key in the certificate it is given.
type Signer struct {
	Issuer  string // "iss"; the registry's auth.token.issuer
	Service string // "aud"; the registry's auth.token.service
	key     *ecdsa.PrivateKey
	kid     string
	cert    []byte // PEM
	now     func() time.Time
}

// Files in a Signer's directory.
const (
	keyFile  = "token-key.pem"  // the private key; never leaves the platform
	certFile = "token-cert.pem" // self-signed certificate: the registry's rootcertbundle
)

// LoadSigner reads the signing key and certificate from dir, making both
// the first time (dir is created, mode 0700).
func LoadSigner(dir, issuer, service string) (*Signer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	keyPath, certPath := filepath.Join(dir, keyFile), filepath.Join(dir, certFile)
	keyPEM, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		return createSigner(keyPath, certPath, issuer, service)
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s: not an ECDSA P-256 key", keyPath)
	}
	cert, err := os.ReadFile(certPath)
	if errors.Is(err, os.ErrNotExist) { // the key alone survived: certify it again
		if cert, err = selfSign(key); err == nil {
			err = os.WriteFile(certPath, cert, 0o644)
		}
	}
	if err != nil {
		return nil, err
	}
	return newSigner(key, cert, issuer, service)
}

func createSigner(keyPath, certPath, issuer, service string) (*Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	cert, err := selfSign(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(certPath, cert, 0o644); err != nil {
		return nil, err
	}
	return newSigner(key, cert, issuer, service)
}

// NewSigner makes a Signer with a fresh key kept only in memory (tests).
func NewSigner(issuer, service string) (*Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := selfSign(key)
	if err != nil {
		return nil, err
	}
	return newSigner(key, cert, issuer, service)
}

func newSigner(key *ecdsa.PrivateKey, cert []byte, issuer, service string) (*Signer, error) {
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Signer{Issuer: issuer, Service: service, key: key, kid: kid, cert: cert, now: time.Now}, nil
}

// selfSign certifies key for ten years. The registry only takes the public
// key out of it; nothing checks names or dates.
func selfSign(key *ecdsa.PrivateKey) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "handson registry token signer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// KeyID is the libtrust key id of pub, the only "kid" distribution
// accepts: SHA-256 of the DER public key, its first 240 bits in base32,
// in twelve groups of four joined by ':'. (An RFC 7638 thumbprint is
// refused: "signed by untrusted key".)
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	s := strings.TrimRight(base32.StdEncoding.EncodeToString(sum[:30]), "=")
	var groups []string
	for i := 0; i < len(s); i += 4 {
		groups = append(groups, s[i:i+4])
	}
	return strings.Join(groups, ":"), nil
}

// CertPEM is the certificate the registry verifies tokens with.
func (s *Signer) CertPEM() []byte { return s.cert }

// Secret derives a stable secret from the key (the registry's http.secret,
// which signs upload state): the same after a restart, unknown outside.
func (s *Signer) Secret() string {
	h := sha256.New()
	h.Write([]byte("handson registry http.secret\x00"))
	h.Write(s.key.D.Bytes())
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// Sign returns a token for subject ("" for anonymous) granting access,
// valid for ttl.
func (s *Signer) Sign(subject string, access []Access, ttl time.Duration) (string, error) {
	now := s.now()
	var jti [12]byte
	rand.Read(jti[:])
	if access == nil {
		access = []Access{}
	}
	c := claims{
		Issuer:    s.Issuer,
		Subject:   subject,
		Audience:  s.Service,
		Expiry:    now.Add(ttl).Unix(),
		NotBefore: now.Add(-10 * time.Second).Unix(), // a little slack for clocks
		IssuedAt:  now.Unix(),
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		Access:    access,
	}
	return s.sign(c)
}

func (s *Signer) sign(c claims) (string, error) {
	header, err := json.Marshal(map[string]string{"typ": "JWT", "alg": "ES256", "kid": s.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signing))
	r, sv, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
	if err != nil {
		return "", err
	}
	// JWS ES256: r and s as 32 bytes each, big-endian (RFC 7518 §3.4).
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	sv.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig), nil
}
