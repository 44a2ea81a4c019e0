//! How commands reach a worker and its replies leave it.
//!
//! In one process, each worker has a channel from the session and a channel back ([`Local`]).
//! Across processes ([`Sequenced`]), commands travel through a timely dataflow, as differential's
//! `interactive` sequencer does: worker 0 of process 0 takes each batch of commands from the
//! session (one command per worker), stamps it with the batch's sequence number and sends each
//! command to its worker through an exchange; every worker applies its commands in sequence
//! order. Replies travel back through a second dataflow, an exchange to worker 0, which hands
//! them to the session. Every byte between processes is timely's.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Input;
use timely::dataflow::operators::core::input::Handle;
use timely::dataflow::operators::generic::operator::Operator;
use timely::worker::Worker;

use super::{Command, Reply};

/// What a worker finds when it looks for its next command.
pub(super) enum Next {
    /// A command to apply.
    Command(Command),
    /// Nothing yet.
    Idle,
    /// The session has ended: stop.
    Closed,
}

/// A worker's commands in and replies out.
pub(super) trait Feed {
    /// The next command, if one is here (does not block).
    fn next(&mut self, worker: &mut Worker) -> Next;
    /// Send a reply to the command just applied; false once nobody listens.
    fn reply(&mut self, reply: Reply) -> bool;
    /// After this worker has failed (its dataflows can no longer be stepped): answer what is
    /// asked with `reply` for as long as the session runs, without stepping the worker.
    fn answer_forever(&mut self, in_flight: bool, reply: impl Fn() -> Reply);
}

/// One process: channels to and from the session.
pub(super) struct Local {
    pub(super) commands: Receiver<Command>,
    pub(super) replies: Sender<Reply>,
}

impl Feed for Local {
    fn next(&mut self, _worker: &mut Worker) -> Next {
        match self.commands.try_recv() {
            Ok(command) => Next::Command(command),
            Err(TryRecvError::Empty) => Next::Idle,
            Err(TryRecvError::Disconnected) => Next::Closed,
        }
    }

    fn reply(&mut self, reply: Reply) -> bool {
        self.replies.send(reply).is_ok()
    }

    fn answer_forever(&mut self, in_flight: bool, reply: impl Fn() -> Reply) {
        if in_flight && self.replies.send(reply()).is_err() {
            return;
        }
        while self.commands.recv().is_ok() {
            if self.replies.send(reply()).is_err() {
                break;
            }
        }
    }
}

/// What travels to a worker through the command dataflow.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Message {
    /// Apply this command.
    Run(Command),
    /// The session has ended.
    Stop,
}

/// A command for worker `.0`, of batch `.1`.
type Addressed = (usize, u64, Message);
/// A reply from worker `.1` to batch `.0`.
type Answer = (u64, usize, Reply);

/// Several processes: commands and replies through timely dataflows.
pub(super) struct Sequenced {
    /// Batches sent so far (worker 0 of process 0 only).
    sent: u64,
    /// The next batch this worker applies.
    expected: u64,
    /// This worker's commands by batch, as they arrive.
    received: Rc<RefCell<BTreeMap<u64, Message>>>,
    /// Where worker 0 of process 0 sends commands; `None` elsewhere, and once stopping.
    commands: Option<Handle<u64, CapacityContainerBuilder<Vec<Addressed>>>>,
    /// Where this worker sends replies.
    replies: Option<Handle<u64, CapacityContainerBuilder<Vec<Answer>>>>,
    /// Replies gathered at worker 0 of process 0.
    gathered: Rc<RefCell<Vec<Answer>>>,
    /// The session's side: batches in, replies out (worker 0 of process 0 only).
    session: Option<(Receiver<Vec<Command>>, Sender<Reply>)>,
    /// This worker's index, for its replies.
    index: usize,
}

impl Sequenced {
    /// Build the command and reply dataflows on `worker` (every worker, in the same order);
    /// `session` is the session's side of worker 0 of process 0.
    pub(super) fn new(worker: &mut Worker, session: Option<(Receiver<Vec<Command>>, Sender<Reply>)>) -> Self {
        let received = Rc::new(RefCell::new(BTreeMap::new()));
        let gathered = Rc::new(RefCell::new(Vec::new()));
        let (commands, replies) = worker.dataflow::<u64, _, _>(|scope| {
            let (commands, stream) = scope.new_input::<Vec<Addressed>>();
            let mine = received.clone();
            stream.sink(Exchange::new(|(to, _, _): &Addressed| *to as u64), "Commands", move |(input, _)| {
                input.for_each(|_, batch| {
                    let mut mine = mine.borrow_mut();
                    for (_, sequence, message) in batch.drain(..) {
                        mine.insert(sequence, message);
                    }
                });
            });
            let (replies, stream) = scope.new_input::<Vec<Answer>>();
            let at_zero = gathered.clone();
            stream.sink(Exchange::new(|_: &Answer| 0), "Replies", move |(input, _)| {
                input.for_each(|_, batch| at_zero.borrow_mut().append(batch));
            });
            (commands, replies)
        });
        Sequenced {
            sent: 0,
            expected: 0,
            received,
            // Only the worker the session talks to sends commands; every other worker closes
            // its input at once, so the dataflow can finish when that one does.
            commands: session.is_some().then_some(commands),
            replies: Some(replies),
            gathered,
            session,
            index: worker.index(),
        }
    }

    /// Worker 0 of process 0: hand gathered replies to the session, and send the session's
    /// new batches on.
    fn pump(&mut self, peers: usize) {
        let Some((batches, replies)) = &self.session else { return };
        for (_, _, reply) in self.gathered.borrow_mut().drain(..) {
            // A session that has gone away takes no replies; its batches stop too.
            let _ = replies.send(reply);
        }
        let Some(input) = self.commands.as_mut() else { return };
        loop {
            let batch: Vec<Message> = match batches.try_recv() {
                Ok(batch) => batch.into_iter().map(Message::Run).collect(),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => (0..peers).map(|_| Message::Stop).collect(),
            };
            let stop = matches!(batch.first(), Some(Message::Stop));
            for (to, message) in batch.into_iter().enumerate() {
                input.send((to, self.sent, message));
            }
            self.sent += 1;
            // Closing the batch's time pushes it out (an exchange holds records until then).
            input.advance_to(self.sent);
            if stop {
                // Closing the input lets the command dataflow finish once delivered.
                self.commands = None;
                return;
            }
        }
    }
}

impl Feed for Sequenced {
    fn next(&mut self, worker: &mut Worker) -> Next {
        self.pump(worker.peers());
        let message = {
            let mut received = self.received.borrow_mut();
            match received.first_key_value() {
                Some((sequence, _)) if *sequence == self.expected => received.pop_first().map(|(_, m)| m),
                _ => None,
            }
        };
        match message {
            Some(Message::Run(command)) => {
                self.expected += 1;
                Next::Command(command)
            }
            Some(Message::Stop) => {
                self.replies = None;
                Next::Closed
            }
            None => Next::Idle,
        }
    }

    fn reply(&mut self, reply: Reply) -> bool {
        let Some(replies) = self.replies.as_mut() else { return false };
        replies.send((self.expected - 1, self.index, reply));
        replies.advance_to(self.expected);
        true
    }

    fn answer_forever(&mut self, _in_flight: bool, _reply: impl Fn() -> Reply) {
        // Nothing to do: the failure is in the process's spill state, which the engine checks
        // while it waits (process 0), and which stops a serving process (the others).
    }
}
