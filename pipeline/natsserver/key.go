package natsserver

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nkeys"
)

// KeyFileName is the embedded server's nkey seed file inside its store directory.
const KeyFileName = "telemetryd.nk"

// Key is the nkey user the embedded server admits: telemetryd serve connects with it,
// and the CLI on the same machine reads it from the data directory. An nkey signs the
// server's nonce, so the secret (the seed) never crosses the connection.
type Key struct {
	Path   string // the seed file
	Public string // the user's public key ("U...")
	seed   []byte
}

// LoadOrCreateKey reads the seed file at path, or creates it with a new random user
// key (mode 0600, its directory 0700) when it does not exist. A file other users can
// read is refused rather than repaired: its secret may already have leaked.
func LoadOrCreateKey(path string) (*Key, error) {
	k, err := ReadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("nats key directory: %w", err)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("create nats user key: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, fmt.Errorf("nats user key seed: %w", err)
	}
	// O_EXCL: two processes starting on one data dir must not overwrite each other's key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ReadKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create nats key file: %w", err)
	}
	_, werr := f.Write(append(seed, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("write nats key file %s: %w", path, werr)
	}
	return ReadKey(path)
}

// ReadKey reads an existing seed file, refusing one that group or others can read.
func ReadKey(path string) (*Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("nats key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("nats key file %s has mode %04o: other users may have read it; "+
			"chmod 600 it, or delete it to have a new key made (every process and CLI on this data dir then uses the new one)",
			path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read nats key file: %w", err)
	}
	seed := bytes.TrimSpace(data)
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("nats key file %s holds no nkey seed: %w", path, err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("nats key file %s: %w", path, err)
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return nil, fmt.Errorf("nats key file %s holds a %c-key, want a user key", path, pub[0])
	}
	return &Key{Path: path, Public: pub, seed: seed}, nil
}

// Sign signs the server's connect nonce: the nats.SignatureHandler of nats.Nkey.
func (k *Key) Sign(nonce []byte) ([]byte, error) {
	kp, err := nkeys.FromSeed(k.seed)
	if err != nil {
		return nil, fmt.Errorf("nats key: %w", err)
	}
	defer kp.Wipe()
	return kp.Sign(nonce)
}
