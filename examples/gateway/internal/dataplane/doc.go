// Package dataplane moves packets between a TUN device and UDP for
// examples/gateway, the way wireguard-go's device package does: batched
// reads and writes on both sides, the kernel's offloads where it has them
// (TUN virtio-net header with TSO/GRO, UDP GSO/GRO, through
// golang.zx2c4.com/wireguard's tun and conn packages, which use
// golang.org/x/net's ipv4/ipv6 PacketConn ReadBatch/WriteBatch), socket
// buffers sized for the rate (conn sets 7 MiB, about 30 ms at 2 Gbit/s,
// with SO_RCVBUFFORCE/SO_SNDBUFFORCE when running as root), and the crypto
// of each batch spread over all cores while packets leave in the order
// they arrived.
//
// # Pipeline
//
// Outbound (TUN -> peer):
//
//  1. One goroutine reads a batch from the TUN (the kernel's TSO
//     super-packets are split into MTU-sized packets by the tun package)
//     and queues the batch twice: on the ordered queue, and on the shared
//     work queue.
//  2. Any of runtime.NumCPU() workers takes the batch from the work queue
//     and calls Crypto.Outbound on each packet, then unlocks the batch.
//  3. One goroutine takes batches from the ordered queue, waits for each
//     to be unlocked, and sends runs of packets to the same peer with one
//     Send (sendmmsg, coalesced with UDP GSO where the kernel has it).
//
// Inbound (peer -> TUN) is the same with UDP receive (recvmmsg, UDP GRO
// split by the conn package) at the head, Crypto.Inbound in the workers
// and one batched TUN write (coalesced with TUN GRO) at the tail.
//
// Because batches leave in the order they entered, the packets of every
// SA keep their order (as wireguard-go's per-peer queues do). ESP
// sequence numbers are taken when a worker seals, so two batches sealed at
// the same time may interleave their numbers on the wire; the receiver's
// anti-replay window (1024 packets by default in package esp) accepts
// that.
//
// Every packet that does not leave is counted under a Cause, per
// direction; Stats reads the counters.
package dataplane
