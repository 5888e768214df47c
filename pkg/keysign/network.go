package keysign

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"

	"golang.org/x/sys/unix"
)

// TypeNetwork is the first message to an engine started ahead of its
// connection (tlswrap --prestarted): the peer's variables as NUL-terminated
// name=value strings, with the network socket attached (SCM_RIGHTS).
const TypeNetwork = 'N'

// maxNetwork bounds the variables of a TypeNetwork message.
const maxNetwork = 4096

// ErrNoSocket is a TypeNetwork message that carried no fd.
var ErrNoSocket = errors.New("network message without a socket")

// SendNetwork hands sock and the peer's variables to the engine on the key
// channel fd.
func SendNetwork(fd, sock int, vars []string) error {
	var data []byte
	for _, v := range vars {
		data = append(append(data, v...), 0)
	}
	if len(data) > maxNetwork {
		return ErrTooBig
	}
	b := make([]byte, headerLen, headerLen+len(data))
	b[0] = TypeNetwork
	binary.BigEndian.PutUint32(b[1:], uint32(len(data)))
	b = append(b, data...)
	rights := unix.UnixRights(sock)
	for {
		// One sendmsg: the kernel takes the whole small message into the
		// socket buffer of a fresh engine, fd attached to its first byte.
		n, err := unix.SendmsgN(fd, b, rights, nil, unix.MSG_NOSIGNAL)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return errnoErr("send", err)
		}
		if n != len(b) {
			return ErrTruncated
		}
		return nil
	}
}

// RecvNetwork waits for the TypeNetwork message on fd and returns the
// socket (close-on-exec) and the variables. io.EOF: the spawner went away
// before a connection came.
func RecvNetwork(fd int) (int, []string, error) {
	var h [headerLen]byte
	oob := make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(fd, h[:], oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_WAITALL)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return -1, nil, errnoErr("receive", err)
	}
	sock, err := rightsFD(oob[:oobn])
	if n == 0 && err == ErrNoSocket {
		return -1, nil, io.EOF
	}
	if err != nil {
		return -1, nil, err
	}
	if n < headerLen {
		unix.Close(sock)
		return -1, nil, ErrTruncated
	}
	size := binary.BigEndian.Uint32(h[1:])
	if h[0] != TypeNetwork || size > maxNetwork {
		unix.Close(sock)
		return -1, nil, ErrUnexpected
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(fdio(fd), data); err != nil {
		unix.Close(sock)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = ErrTruncated
		}
		return -1, nil, err
	}
	var vars []string
	for _, v := range bytes.Split(data, []byte{0}) {
		if len(v) > 0 {
			vars = append(vars, string(v))
		}
	}
	return sock, vars, nil
}

// rightsFD returns the one fd of an SCM_RIGHTS control message; any other
// fd received is closed.
func rightsFD(oob []byte) (int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1, err
	}
	sock := -1
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, f := range fds {
			if sock < 0 {
				sock = f
			} else {
				unix.Close(f)
			}
		}
	}
	if sock < 0 {
		return -1, ErrNoSocket
	}
	return sock, nil
}
