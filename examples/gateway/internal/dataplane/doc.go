// Package dataplane moves packets between a TUN device and UDP for
// examples/gateway, with the kernel's offloads on both sides and as few
// copies and system calls as the kernel allows.
//
// # I/O (Linux)
//
// OpenTUN takes the file descriptor of a TUN that
// golang.zx2c4.com/wireguard/tun created with its virtio-net header and
// offloads (TSO for IPv4 and IPv6, USO where the kernel has it), and reads
// and writes frames on it directly: reads until the device has no more
// ready (up to 16 frames of up to 64 KiB), writes by writev. ListenUDP
// opens the data port with UDP GSO (UDP_SEGMENT: one sendmsg carries a
// run of equal-sized datagrams) and UDP GRO (UDP_GRO: one recvmsg returns
// a train of them), and 7 MiB socket buffers (forced when running as
// root).
//
// # Outbound (TUN -> peer)
//
// One goroutine reads frames, cuts each TSO/USO super-packet into the
// packets the kernel would have sent (headers repeated, lengths, IPv4
// identification, TCP sequence numbers and flags, checksums), writing
// each packet ESPFront bytes into the slot where it will be sealed, so
// that the driver seals it in place (Driver.OutboundESP: bare ESP, no
// outer IP header). The first packet of a frame sets the stride: the
// packets of a frame lie back to back, and a run of them to one peer
// leaves in one GSO send, straight from where it was sealed.
//
// # Inbound (peer -> TUN)
//
// One goroutine reads messages, opens each datagram in place, and writes
// the inner packets in order: runs of TCP segments of one flow (the
// conditions of Linux's own TCP GRO) go to the TUN as one super-packet by
// writev, the first segment's headers rewritten and every payload where
// it was decrypted; anything else one packet per write. The segments'
// TCP checksums are not checked: the ESP ICV has authenticated every
// byte (see coalescer). ESP that arrived through the IKE endpoint's NAT-T socket (RFC
// 3948, where the endpoint reads it with UDP GRO) comes the same way,
// opened in the endpoint's read buffers (InboundESPBatch).
//
// # Cores and order
//
// Each direction runs to completion on its reading goroutine, so the
// packets of every SA leave in the order they came. With Config.Workers
// above one, a batch of at least 8 packets is split and its upper half
// sealed or opened by a helper goroutine while the reader does the lower
// half; the batch leaves when both are done. ESP sequence numbers are
// taken when a packet is sealed, so the two halves' numbers may
// interleave on the wire; the receiver's anti-replay window (1024 packets
// by default in package esp) accepts that.
//
// Every packet that does not leave is counted under a Cause, per
// direction; Stats reads the counters.
package dataplane
