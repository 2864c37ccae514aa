//! Handing a ring to a peer over a Unix socket: its memfd and both eventfds
//! as SCM_RIGHTS, with one byte of payload saying which end the receiver
//! takes.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
    recvmsg, sendmsg,
};

use crate::shm::ShmError;

/// Which end of a ring the receiver of its descriptors takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It produces; the sender consumes.
    Producer,
    /// It consumes; the sender produces.
    Consumer,
}

/// Sends the three descriptors of a ring (memfd, consumer's wake-up,
/// producer's wake-up) and the end the peer takes.
pub fn send(socket: &UnixStream, fds: [&OwnedFd; 3], peer_takes: End) -> Result<(), ShmError> {
    let borrowed = [fds[0].as_fd(), fds[1].as_fd(), fds[2].as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&borrowed)) {
        return Err(ShmError::Refused("no room for three descriptors".into()));
    }
    let byte = [match peer_takes {
        End::Producer => b'P',
        End::Consumer => b'C',
    }];
    sendmsg(socket, &[IoSlice::new(&byte)], &mut control, SendFlags::NOSIGNAL)
        .map_err(|source| ShmError::Os { what: "sendmsg", source })?;
    Ok(())
}

/// Receives what [`send`] sent: exactly three descriptors and the end to take.
pub fn receive(socket: &UnixStream) -> Result<([OwnedFd; 3], End), ShmError> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let message = recvmsg(socket, &mut [IoSliceMut::new(&mut byte)], &mut control, RecvFlags::CMSG_CLOEXEC)
        .map_err(|source| ShmError::Os { what: "recvmsg", source })?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    if message.bytes != 1 || fds.len() != 3 {
        return Err(ShmError::Refused(format!(
            "{} byte(s) and {} descriptor(s), not 1 and 3",
            message.bytes,
            fds.len()
        )));
    }
    let end = match byte[0] {
        b'P' => End::Producer,
        b'C' => End::Consumer,
        other => return Err(ShmError::Refused(format!("end {other:?}"))),
    };
    let mut fds = fds.into_iter();
    match (fds.next(), fds.next(), fds.next()) {
        (Some(a), Some(b), Some(c)) => Ok(([a, b, c], end)),
        _ => Err(ShmError::Refused("three descriptors".into())),
    }
}
