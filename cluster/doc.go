// Package cluster owns portsync's replication: three (or five) nodes that
// keep one store through Raft (hashicorp/raft, with its log in bbolt by
// raft-boltdb), so that the loss of a machine loses nothing and stops
// nothing for longer than an election.
//
// What is replicated is the store's writes (state.WriteSet), not the
// inputs: the leader's writer works out a group commit in a transaction it
// rolls back and hands the write set to its term's Node.Applier, and every
// node's finite-state machine (fsm.go), the leader's included, commits the
// same bytes. The applier returns once a quorum holds the entry and the
// leader's own store has it, which is when the writer may acknowledge the
// inputs. Replicating the writes rather than the inputs makes the replicas
// equal by construction: a follower runs no decision code, so neither its
// configuration, its clock nor its version can make it differ.
//
// The package decides nothing about containers and acts on nothing
// outside: sync/daemon watches Leadership and runs the adapters, the
// writer and the workers only while this node leads.
package cluster
