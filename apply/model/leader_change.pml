/*
 * leader_change.pml — a Promela model of leader change with fencing, the
 * design of HA on etcd (docs/ha.md, issue 19): controllers
 * campaign for a lease-backed leader key, each leader recovers what the WAL
 * (kept in etcd) leaves open and then runs its own transaction, and a
 * leader may pause past its lease and carry on as a zombie. Checked
 * exhaustively by spin in the test suite (apply/tests/model.rs).
 *
 * The rules under test:
 * - A leader's epoch is the revision at which it won (the leader key's
 *   create revision): etcd revisions only grow, so every later leader's
 *   epoch is above every earlier one's. Drivers refuse calls below the
 *   highest epoch they have seen (protocol 1's `stale_epoch`).
 * - Every WAL write is an etcd transaction guarded by the leadership: it
 *   succeeds only while the leader key is still the writer's (same create
 *   revision). A deposed leader's writes fail, and it stops.
 * - A new leader fences every driver (Open with its epoch) before it reads
 *   an open transaction's decision, then finishes it: a logged decision is
 *   re-sent, no decision is an abort (presumed abort).
 *
 * Abstractions: two controllers, each wins at most once and runs one
 * transaction (controller c moves every driver to plan c + 1); a driver's
 * steps are atomic and durable; a pause is the lease expiring at that
 * point while the controller carries on. etcd itself is one linearizable
 * store (its own replication is etcd's to prove).
 *
 * Two seeded bugs show the model is sensitive to what it claims: with
 * -DUNGUARDED_WAL the WAL writes ignore leadership, and with -DLOCAL_EPOCH
 * each leader counts its own epochs from 1. Spin finds a violated invariant
 * in each (the test suite checks it does).
 */

#define N 2            /* drivers */
#define C 2            /* controllers */
#define NOBODY 255
#define MAXREV 12

#define NONE 0
#define PREPARED 1
#define COMMIT 2
#define ABORT 3

/* etcd */
byte rev = 1;                  /* the store's revision: every write takes one */
byte leader_rev = 0;           /* create revision of the leader key; 0: no leader */
byte leader_id = NOBODY;
/* the WAL in etcd: one transaction per controller */
bool wal_begin[C];
byte wal_decision[C];
bool wal_end[C];

/* drivers (durable) */
byte plan[N];
byte highest[N];
byte record[C * N];
/* which controller's calls were accepted at each epoch */
byte accepted_by[MAXREV];

byte done = 0;

#ifdef UNGUARDED_WAL
#define LEADS(c, e) true
#else
#define LEADS(c, e) (leader_id == c && leader_rev == e)
#endif

/* A driver receives a call with epoch e from controller c: fenced below the
 * highest epoch seen; an accepted call is recorded against its epoch. */
inline accept(di, ep, who, res) {
  if
  :: ep < highest[di] -> res = false
  :: else ->
     highest[di] = ep;
     res = true;
     if
     :: accepted_by[ep] == NOBODY -> accepted_by[ep] = who
     :: else -> assert(accepted_by[ep] == who)   /* one controller per epoch */
     fi
  fi
}

inline prepare(tx, di, ep, who, res) {
  atomic {
    accept(di, ep, who, res);
    if
    :: res && record[tx * N + di] == NONE -> record[tx * N + di] = PREPARED
    :: res && record[tx * N + di] == PREPARED -> skip
    :: res && record[tx * N + di] != NONE && record[tx * N + di] != PREPARED -> res = false
    :: !res -> skip
    fi
  }
}

inline commit(tx, di, ep, who, res) {
  atomic {
    accept(di, ep, who, res);
    if
    :: res && record[tx * N + di] == PREPARED -> plan[di] = tx + 1; record[tx * N + di] = COMMIT
    :: res && record[tx * N + di] == COMMIT -> skip
    :: res && (record[tx * N + di] == NONE || record[tx * N + di] == ABORT) -> res = false
    :: !res -> skip
    fi
  }
}

inline abort(tx, di, ep, who, res) {
  atomic {
    accept(di, ep, who, res);
    if
    :: res && record[tx * N + di] != COMMIT -> record[tx * N + di] = ABORT
    :: res && record[tx * N + di] == COMMIT -> res = false
    :: !res -> skip
    fi
  }
}

/* The lease may lapse here (the controller paused past its TTL); it
 * carries on afterwards, not knowing. */
#define PAUSE_POINT \
  if \
  :: !paused -> paused = true; atomic { if :: leader_id == c -> leader_rev = 0; leader_id = NOBODY; rev++ :: else -> skip fi } \
  :: true -> skip \
  fi

proctype Controller(byte c) {
  byte e; bool ok; byte i; byte t; byte decision; bool yes; bool paused = false;

  /* campaign: create the leader key with a lease, if there is none */
  atomic { leader_rev == 0 -> leader_rev = rev; leader_id = c; rev++;
#ifdef LOCAL_EPOCH
    e = 1
#else
    e = leader_rev
#endif
  };

  /* recover every transaction the WAL leaves open */
  t = 0;
  do
  :: t < C && wal_begin[t] && !wal_end[t] ->
     /* fence first... */
     i = 0;
     do
     :: i < N -> atomic { accept(i, e, c, ok) }; i++
     :: i == N -> break
     od;
     PAUSE_POINT;
     /* ...then read the decision; none is an abort, logged (guarded) */
     atomic {
       if
       :: LEADS(c, e) -> if :: wal_decision[t] == NONE -> wal_decision[t] = ABORT :: else -> skip fi; decision = wal_decision[t]; rev++
       :: else -> decision = NONE
       fi
     };
     if :: decision == NONE -> goto out :: else -> skip fi;
     i = 0;
     do
     :: i < N -> if :: decision == COMMIT -> commit(t, i, e, c, ok) :: else -> abort(t, i, e, c, ok) fi; i++
     :: i == N -> break
     od;
     atomic { if :: LEADS(c, e) -> wal_end[t] = true; rev++ :: else -> skip fi };
     t++
  :: t < C && !(wal_begin[t] && !wal_end[t]) -> t++
  :: t == C -> break
  od;

  /* its own transaction */
  atomic { if :: LEADS(c, e) -> wal_begin[c] = true; rev++; ok = true :: else -> ok = false fi };
  if :: !ok -> goto out :: else -> skip fi;
  PAUSE_POINT;
  yes = true;
  i = 0;
  do
  :: i < N -> prepare(c, i, e, c, ok); if :: !ok -> yes = false; break :: else -> i++ fi
  :: i == N -> break
  od;
  PAUSE_POINT;
  atomic {
    if
    :: LEADS(c, e) && wal_decision[c] == NONE -> wal_decision[c] = (yes -> COMMIT : ABORT); rev++; ok = true
#ifdef UNGUARDED_WAL
    :: LEADS(c, e) && wal_decision[c] != NONE -> wal_decision[c] = (yes -> COMMIT : ABORT); rev++; ok = true
#endif
    :: else -> ok = false
    fi
  };
  if :: !ok -> goto out :: else -> skip fi;
  decision = (yes -> COMMIT : ABORT);
  PAUSE_POINT;
  i = 0;
  do
  :: i < N -> if :: decision == COMMIT -> commit(c, i, e, c, ok) :: else -> abort(c, i, e, c, ok) fi; i++
  :: i == N -> break
  od;
  atomic { if :: LEADS(c, e) -> wal_end[c] = true; rev++ :: else -> skip fi };
  /* resign */
  atomic { if :: leader_id == c && leader_rev == e -> leader_rev = 0; leader_id = NOBODY; rev++ :: else -> skip fi };
out:
  done++
}

/* The next leader after everybody stopped: what a restarted controller
 * does (recover what is open), so the end state can be judged. */
proctype Finisher() {
  byte e; bool ok; byte i; byte t; byte decision;
  done == C;
  atomic { leader_rev == 0 -> leader_rev = rev; leader_id = 2; rev++; e = leader_rev };
  t = 0;
  do
  :: t < C && wal_begin[t] && !wal_end[t] ->
     i = 0;
     do
     :: i < N -> atomic { accept(i, e, 2, ok) }; i++
     :: i == N -> break
     od;
     atomic { if :: wal_decision[t] == NONE -> wal_decision[t] = ABORT :: else -> skip fi; decision = wal_decision[t] };
     i = 0;
     do
     :: i < N -> if :: decision == COMMIT -> commit(t, i, e, 2, ok) :: else -> abort(t, i, e, 2, ok) fi; i++
     :: i == N -> break
     od;
     wal_end[t] = true;
     t++
  :: t < C && !(wal_begin[t] && !wal_end[t]) -> t++
  :: t == C -> break
  od;
  done++
}

init {
  byte i;
  atomic {
    i = 0;
    do
    :: i < MAXREV -> accepted_by[i] = NOBODY; i++
    :: i == MAXREV -> break
    od;
    run Controller(0);
    run Controller(1);
    run Finisher()
  };
  done == C + 1;
  /* No mixed state: every driver holds the same plan. */
  assert(plan[0] == plan[1]);
  /* The WAL tells the truth: a transaction logged as committed is committed
   * on every driver, one logged as aborted on none. */
  i = 0;
  do
  :: i < C * N ->
     assert(wal_decision[i / N] != COMMIT || record[i] == COMMIT);
     assert(wal_decision[i / N] != ABORT || record[i] != COMMIT);
     i++
  :: i == C * N -> break
  od;
  /* Nothing stays prepared. */
  i = 0;
  do
  :: i < C * N -> assert(record[i] != PREPARED); i++
  :: i == C * N -> break
  od
}
