/*
 * two_phase.pml — a Promela model of rtt apply (SPEC §8): the coordinator,
 * N drivers, the WAL, crashes at any step, recovery, and epoch fencing.
 * Checked exhaustively by `spin` in the test suite (apply/tests/model.rs).
 *
 * Each step names the code it models. Keep the two in step: a change to the
 * order of WAL records, driver calls or fencing in
 *   apply/src/coordinator/mod.rs  (Coordinator::transaction, finish_commit)
 *   apply/src/coordinator/calls.rs   (deliver_all, open_session)
 *   apply/src/coordinator/recover.rs (Coordinator::recover)
 *   apply/src/driver/dir.rs   (DirStore::prepare/commit/abort/fence)
 *   apply/src/recovery.rs     (next_action)
 * belongs here too.
 *
 * Abstractions:
 * - One transaction from plan OLD to plan NEW; every driver takes part.
 * - A driver's durable state is its committed plan, its transaction record
 *   (none / prepared / committed / aborted) and its highest epoch. Its own
 *   steps are atomic (the real driver makes each durable with fsync before
 *   answering); a driver crash loses only the answer, which the coordinator
 *   sees as a failure.
 * - A coordinator "crash" either stops it (SIGKILL) or, worse, pauses it: it
 *   wakes up later and carries on with its old epoch while recovery runs
 *   (a lock misjudged stale). Fencing must keep that zombie harmless.
 * - Recovery can crash too and is restarted with a newer epoch.
 * - Verify through Rx and the rollback after a mismatch are a second
 *   transaction through the same steps and are not modelled separately.
 *
 * Two seeded bugs show the model is sensitive to what it claims: with
 * -DNOFENCE drivers skip the epoch check, with -DREAD_BEFORE_FENCE recovery
 * reads the decision before fencing every driver. Spin finds a mixed state
 * in both (the test suite checks that it does).
 */

#ifndef N
#define N 3
#endif
#define MAX_RECOVERY_CRASHES 2

#define OLD 0
#define NEW 1
/* WAL decision and driver transaction records */
#define NONE 0
#define COMMIT 1
#define ABORT 2
#define PREPARED 3

/* Durable driver state (driver/dir.rs: placements.json, txns/<txn>.json, epoch.json). */
byte plan[N];          /* plan in force */
byte record[N];        /* NONE, PREPARED, COMMIT (committed), ABORT (aborted) */
byte highest[N];       /* highest epoch seen */

/* The WAL (log/wal.rs): begin, decision, end of the one transaction. */
bool wal_begin = false;
byte wal_decision = NONE;
bool wal_end = false;

bool coordinator_stopped = false;  /* crashed or paused: recovery may start */
bool coordinator_done = false;     /* the coordinator process has ended */
bool recovery_done = false;
byte next_epoch = 2;               /* the coordinator has epoch 1 */

/* Driver steps. `ok` is what the caller learns; a lost answer is ok = false
 * with the durable effect kept. */

/* DirStore::fence — Open and every Tx. */
inline fence(i, e, fenced) {
#ifdef NOFENCE
  fenced = false;
#else
  fenced = (e < highest[i]);
#endif
  if
  :: !fenced && e > highest[i] -> highest[i] = e
  :: else -> skip
  fi
}

/* DirStore::prepare: stage, then the record (the durable yes). */
inline prepare(i, e, ok) {
  atomic {
    fence(i, e, fenced);
    if
    :: fenced -> ok = false
    :: !fenced && record[i] == NONE ->
       if
       :: record[i] = PREPARED; ok = true
       :: record[i] = PREPARED; ok = false   /* crashed after the record: answer lost */
       :: ok = false                         /* crashed before the record, or voted no */
       fi
    :: !fenced && record[i] == PREPARED -> ok = true
    :: !fenced && (record[i] == COMMIT || record[i] == ABORT) -> ok = false
    fi
  }
}

/* DirStore::commit: rename staged files, mark committed; repeat is a no-op;
 * unknown or aborted transactions are errors. */
inline commit(i, e, ok) {
  atomic {
    fence(i, e, fenced);
    if
    :: fenced -> ok = false
    :: !fenced && record[i] == PREPARED -> plan[i] = NEW; record[i] = COMMIT;
       if :: ok = true :: ok = false fi     /* the answer may be lost */
    :: !fenced && record[i] == COMMIT -> ok = true
    :: !fenced && (record[i] == NONE || record[i] == ABORT) -> ok = false
    fi
  }
}

/* DirStore::abort: drop staged files, mark aborted (also for a transaction
 * never prepared); abort after commit is an error. */
inline abort(i, e, ok) {
  atomic {
    fence(i, e, fenced);
    if
    :: fenced -> ok = false
    :: !fenced && record[i] != COMMIT -> record[i] = ABORT;
       if :: ok = true :: ok = false fi
    :: !fenced && record[i] == COMMIT -> ok = false
    fi
  }
}

/* Coordinator::transaction (steps 2–7 of coordinator/mod.rs), epoch 1.
 * At each marked point it may crash (stop) or pause (carry on later as a
 * zombie). Only one of the two happens, once. */
proctype Coordinator() {
  byte i; bool ok; bool fenced; byte decision;
  bool yes = true;
  bool stopped = false;
  byte sent = 0;   /* drivers sent a prepare: only they need an abort */

/* A crash point: stop for good, or pause (recovery may start) and go on. */
#define CRASH_POINT \
  if \
  :: !stopped -> stopped = true; coordinator_stopped = true; goto out \
  :: !stopped -> stopped = true; coordinator_stopped = true \
  :: true -> skip \
  fi

  /* step 2: keep the plan, then WAL begin (fsynced) */
  wal_begin = true;
  CRASH_POINT;
  /* step 3: Open + prepare each driver; the first no stops preparing */
  i = 0;
  do
  :: i < N ->
     sent++;
     prepare(i, 1, ok);
     CRASH_POINT;
     if
     :: !ok -> yes = false; break
     :: else -> i++
     fi
  :: i == N -> break
  od;
  /* step 4: WAL decision, fsynced before any commit is sent. A record
   * behind one recovery wrote breaks the hash chain (Wal::append's prev is
   * stale) and is refused by every later reader; the zombie's own decision
   * still drives what it sends. */
  decision = (yes -> COMMIT : ABORT);
  atomic { if :: wal_decision == NONE -> wal_decision = decision :: else -> skip fi };
  CRASH_POINT;
  /* step 5: deliver; a driver that fails is told once more (deliver_all);
   * if it still fails the transaction stays in doubt for recovery */
  i = 0;
  do
  :: i < sent ->
     if
     :: decision == COMMIT -> commit(i, 1, ok); if :: !ok -> commit(i, 1, ok) :: else fi
     :: decision == ABORT -> abort(i, 1, ok); if :: !ok -> abort(i, 1, ok) :: else fi
     fi;
     if :: !ok -> goto out :: else fi;
     CRASH_POINT;
     i++
  :: i == sent -> break
  od;
  /* step 7: pointer, then WAL end (after recovery's end it is a stale append) */
  atomic { if :: !coordinator_stopped -> wal_end = true :: else -> skip fi };
out:
  coordinator_done = true;
  coordinator_stopped = true
}

/* Coordinator::recover (recovery.rs next_action): runs once the coordinator
 * stopped; may crash and is restarted with a newer epoch. */
proctype Recovery() {
  byte i; bool ok; bool fenced; byte e; byte decision;
  byte crashes = 0;
  coordinator_stopped;
restart:
  if
  :: !wal_begin || wal_end -> goto done    /* Action::Nothing */
  :: else -> skip
  fi;
  e = next_epoch; next_epoch++;
#ifndef READ_BEFORE_FENCE
  /* Probe + Open every participant with the new epoch first: from here on
   * the old coordinator's calls are fenced off... */
  i = 0;
  do
  :: i < N -> atomic { fence(i, e, fenced) }; i++
  :: i == N -> break
  od;
  /* ...then read the decision: whatever the old coordinator managed to log
   * before the fence is seen here. No decision: presumed abort (logged). */
  atomic {
    if
    :: wal_decision == NONE -> wal_decision = ABORT
    :: else -> skip
    fi;
    decision = wal_decision
  };
#else
  /* ...then read the decision: whatever the old coordinator managed to log
   * before the fence is seen here. No decision: presumed abort (logged). */
  atomic {
    if
    :: wal_decision == NONE -> wal_decision = ABORT
    :: else -> skip
    fi;
    decision = wal_decision
  };
  /* Probe + Open every participant with the new epoch first: from here on
   * the old coordinator's calls are fenced off... */
  i = 0;
  do
  :: i < N -> atomic { fence(i, e, fenced) }; i++
  :: i == N -> break
  od;
#endif
  i = 0;
  do
  :: i < N ->
     if
     :: decision == COMMIT -> commit(i, e, ok)
     :: decision == ABORT -> abort(i, e, ok)
     fi;
     if
     :: !ok && crashes < MAX_RECOVERY_CRASHES -> crashes++; goto restart
     :: !ok && crashes == MAX_RECOVERY_CRASHES ->
        /* a driver that never answers: retry until it does (bounded here by
         * making the last attempt's answers reliable) */
        if
        :: decision == COMMIT -> atomic { fence(i, e, fenced); if :: !fenced && record[i] == PREPARED -> plan[i] = NEW; record[i] = COMMIT :: else -> skip fi }
        :: decision == ABORT -> atomic { fence(i, e, fenced); if :: !fenced && record[i] != COMMIT -> record[i] = ABORT :: else -> skip fi }
        fi
     :: else -> skip
     fi;
     i++
  :: i == N -> break
  od;
  wal_end = true;
done:
  recovery_done = true
}

init {
  byte i;
  atomic {
    i = 0;
    do
    :: i < N -> plan[i] = OLD; record[i] = NONE; highest[i] = 0; i++
    :: i == N -> break
    od;
    run Coordinator();
    run Recovery()
  };
  /* Once every process has ended (recovery finished, the zombie too): */
  (_nr_pr == 1);
  /* Atomicity: every driver holds the old plan or every driver the new one. */
  i = 1;
  do
  :: i < N -> assert(plan[i] == plan[0]); i++
  :: i == N -> break
  od;
  /* No lost commit: a logged commit decision is in force everywhere, and a
   * plan in force anywhere was decided. */
  assert(wal_decision != COMMIT || plan[0] == NEW);
  assert(plan[0] != NEW || wal_decision == COMMIT);
  /* Nothing stays prepared: every participant that voted yes heard the outcome. */
  i = 0;
  do
  :: i < N -> assert(record[i] != PREPARED); i++
  :: i == N -> break
  od;
  /* The WAL is finished. */
  assert(!wal_begin || wal_end)
}

/* Recovery terminates: every run reaches the end of both processes. */
ltl terminates { <> (recovery_done && coordinator_done) }
