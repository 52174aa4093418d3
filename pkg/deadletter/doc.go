// Package deadletter lists, inspects, replays and purges Kinetic's dead
// letters: the records workers could not load, kept in the dead-letter
// stream with the original payload and the error.
//
// Replay republishes a dead letter's original bytes and headers to its
// original subject (or to another pipeline's) and deletes the dead letter
// only after the records stream acknowledged the republish. The republish
// carries Nats-Msg-Id replay-<stream>-<seq>, so if replay is interrupted
// between the two steps and run again, the records stream drops the second
// copy (within its duplicate window) and the dead letter is then deleted:
// running replay twice does not publish twice.
package deadletter
