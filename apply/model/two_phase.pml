/*
 * two_phase.pml — a Promela model of rtt apply (SPEC §8): the coordinator,
 * N drivers, the WAL, crashes at any step, recovery, epoch fencing, the
 * verify after a commit with its rollback transaction, the SLO gate after a
 * soak with its rollback, and driver breakers.
 * Checked exhaustively by `spin` in the test suite (apply/tests/model.rs).
 *
 * Each step names the code it models. Keep the two in step: a change to the
 * order of WAL records, driver calls, verify, breakers or fencing in
 *   apply/src/coordinator/mod.rs  (Coordinator::transaction, finish_commit)
 *   apply/src/coordinator/calls.rs   (deliver_all, open_session)
 *   apply/src/coordinator/recover.rs (Coordinator::recover, roll_back_after_verify_failure)
 *   apply/src/coordinator/breaker.rs (Breaker::admit, record)
 *   apply/src/coordinator/soak.rs    (Coordinator::soak: the gate record, the rollback)
 *   apply/src/driver/dir.rs   (DirStore::prepare/commit/abort/fence)
 *   apply/src/log/recovery.rs (next_action)
 * belongs here too.
 *
 * Abstractions:
 * - Transaction 0 moves every driver from plan OLD to plan NEW. After its
 *   commit the coordinator verifies through Rx; a driver may report other
 *   placements (a lying or broken driver), and then the transaction ends
 *   `verify_failed` and transaction 1, its rollback (NEW to OLD,
 *   `rollback_of` set), runs through the same steps. A rollback's own
 *   verify is not rolled back again (next_action), so it always passes
 *   here: whatever it finds is reported, not acted on.
 * - A driver's durable state is its committed plan, its record per
 *   transaction (none / prepared / committed / aborted) and its highest
 *   epoch. Its own steps are atomic (the real driver makes each durable with
 *   fsync before answering); a driver crash loses only the answer, which the
 *   coordinator sees as a failure.
 * - Breakers: a failed call may open the driver's breaker (the threshold of
 *   consecutive failures is abstracted to "may"). An open breaker refuses a
 *   new transaction 0 before anything is logged; rollbacks and recovery
 *   ignore breakers, because a logged decision must reach every driver.
 * - A coordinator "crash" either stops it (SIGKILL) or, worse, pauses it: it
 *   wakes up later and carries on with its old epoch while recovery runs.
 *   With the apply lock a kernel flock (released only when the holder
 *   exits) that needs a lost lock — a network filesystem, or a deposed
 *   leader — and fencing must keep that zombie harmless. A coordinator that
 *   was paused does not start a rollback: its begin record would follow
 *   recovery's (a forked chain, refused by every reader) and recovery,
 *   seeing `end verify_failed` with no rollback after it, rolls back itself.
 * - Recovery can crash too and is restarted with a newer epoch.
 * - The SLO gate (apply --soak): after transaction 0 committed and passed
 *   verify, the soak's verdict is logged after its `end` — pass or breach,
 *   chosen freely here — and a breach rolls back through transaction 1
 *   like a failed verify. A paused coordinator's gate record would follow
 *   what recovery wrote and is not counted; recovery, finding a logged
 *   breach with no rollback after it, rolls back itself.
 *
 * Five seeded bugs show the model is sensitive to what it claims: with
 * -DNOFENCE drivers skip the epoch check, with -DREAD_BEFORE_FENCE recovery
 * reads the decision before fencing every driver, with
 * -DRECOVERY_HONOURS_BREAKERS recovery skips drivers whose breaker is open,
 * with -DNO_ROLLBACK_IN_RECOVERY recovery leaves `end verify_failed` alone,
 * with -DNO_GATE_ROLLBACK_IN_RECOVERY recovery leaves a logged breach alone.
 * Spin finds a violated invariant in each (the test suite checks it does).
 */

#ifndef N
#define N 3
#endif
#define T 2
#define MAX_RECOVERY_CRASHES 2

#define OLD 0
#define NEW 1
/* WAL decision and driver transaction records */
#define NONE 0
#define COMMIT 1
#define ABORT 2
#define PREPARED 3
/* WAL end outcomes */
#define END_NONE 0
#define END_OK 1
#define END_VERIFY_FAILED 2
/* WAL gate verdicts (log/wal.rs GateOutcome) */
#define GATE_NONE 0
#define GATE_PASS 1
#define GATE_BREACH 2

/* Durable driver state (driver/dir.rs: placements.json, txns/<txn>.json, epoch.json). */
byte plan[N];          /* plan in force */
byte record[T * N];    /* per transaction: NONE, PREPARED, COMMIT (committed), ABORT (aborted) */
byte highest[N];       /* highest epoch seen */
bool broken[N];        /* breaker open (state/breakers.json) */

/* The WAL (log/wal.rs): begin, decision, end of each transaction. */
bool wal_begin[T];
byte wal_decision[T];
byte wal_end[T];
byte wal_gate;         /* the gate's verdict on transaction 0, after its end */

bool coordinator_stopped = false;  /* crashed, paused or ended: recovery may start */
bool coordinator_done = false;     /* the coordinator process has ended */
bool recovery_done = false;
byte next_epoch = 2;               /* the coordinator's first transaction has epoch 1 */

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
inline prepare(t, i, e, ok) {
  atomic {
    fence(i, e, fenced);
    if
    :: fenced -> ok = false
    :: !fenced && record[t * N + i] == NONE ->
       if
       :: record[t * N + i] = PREPARED; ok = true
       :: record[t * N + i] = PREPARED; ok = false   /* crashed after the record: answer lost */
       :: ok = false                                 /* crashed before the record, or voted no */
       fi
    :: !fenced && record[t * N + i] == PREPARED -> ok = true
    :: !fenced && (record[t * N + i] == COMMIT || record[t * N + i] == ABORT) -> ok = false
    fi
  }
}

/* DirStore::commit: rename staged files (transaction 0 stages NEW, its
 * rollback OLD), mark committed; repeat is a no-op; unknown or aborted
 * transactions are errors. */
inline commit(t, i, e, ok) {
  atomic {
    fence(i, e, fenced);
    if
    :: fenced -> ok = false
    :: !fenced && record[t * N + i] == PREPARED -> plan[i] = (t == 0 -> NEW : OLD); record[t * N + i] = COMMIT;
       if :: ok = true :: ok = false fi     /* the answer may be lost */
    :: !fenced && record[t * N + i] == COMMIT -> ok = true
    :: !fenced && (record[t * N + i] == NONE || record[t * N + i] == ABORT) -> ok = false
    fi
  }
}

/* DirStore::abort: drop staged files, mark aborted (also for a transaction
 * never prepared); abort after commit is an error. */
inline abort(t, i, e, ok) {
  atomic {
    fence(i, e, fenced);
    if
    :: fenced -> ok = false
    :: !fenced && record[t * N + i] != COMMIT -> record[t * N + i] = ABORT;
       if :: ok = true :: ok = false fi
    :: !fenced && record[t * N + i] == COMMIT -> ok = false
    fi
  }
}

/* Breaker::record: a failed call may open the breaker. */
inline failed_call(i) {
  if :: broken[i] = true :: skip fi
}

/* Coordinator::transaction and finish_commit (steps 2–9 of
 * coordinator/mod.rs): transaction 0 with epoch 1, then its rollback with a
 * newer epoch if verify fails. At each marked point it may crash (stop) or
 * pause (carry on later as a zombie). Only one of the two happens, once. */
proctype Coordinator() {
  byte i; bool ok; bool fenced; byte decision;
  byte t = 0;
  byte e = 1;
  bool yes;
  bool verified;
  bool stopped = false;
  byte sent;   /* drivers sent a prepare: only they need an abort */

/* A crash point: stop for good, or pause (recovery may start) and go on. */
#define CRASH_POINT \
  if \
  :: !stopped -> stopped = true; coordinator_stopped = true; goto out \
  :: !stopped -> stopped = true; coordinator_stopped = true \
  :: true -> skip \
  fi

  /* step 1: an open breaker refuses transaction 0 before anything is logged */
  i = 0;
  do
  :: i < N && broken[i] -> goto out
  :: i < N && !broken[i] -> i++
  :: i == N -> break
  od;
txn:
  yes = true; sent = 0;
  /* step 2: keep the plan, then WAL begin (fsynced) */
  wal_begin[t] = true;
  CRASH_POINT;
  /* step 3: Open + prepare each driver; the first no stops preparing */
  i = 0;
  do
  :: i < N ->
     sent++;
     prepare(t, i, e, ok);
     CRASH_POINT;
     if
     :: !ok -> failed_call(i); yes = false; break
     :: else -> i++
     fi
  :: i == N -> break
  od;
  /* step 4: WAL decision, fsynced before any commit is sent. A record
   * behind one recovery wrote breaks the hash chain (Wal::append's prev is
   * stale) and is refused by every later reader; the zombie's own decision
   * still drives what it sends. */
  decision = (yes -> COMMIT : ABORT);
  atomic { if :: wal_decision[t] == NONE -> wal_decision[t] = decision :: else -> skip fi };
  CRASH_POINT;
  /* step 5: deliver; a driver that fails is told once more (deliver_all);
   * if it still fails the transaction stays in doubt for recovery */
  i = 0;
  do
  :: i < sent ->
     if
     :: decision == COMMIT -> commit(t, i, e, ok); if :: !ok -> failed_call(i); commit(t, i, e, ok) :: else fi
     :: decision == ABORT -> abort(t, i, e, ok); if :: !ok -> failed_call(i); abort(t, i, e, ok) :: else fi
     fi;
     if :: !ok -> failed_call(i); goto out :: else fi;
     CRASH_POINT;
     i++
  :: i == sent -> break
  od;
  /* steps 6–7: verify through Rx (a commit of transaction 0 may find other
   * placements), pointer, then WAL end (after recovery's end it is a stale
   * append) */
  verified = true;
  if
  :: decision == COMMIT && t == 0 -> if :: verified = false :: skip fi
  :: else -> skip
  fi;
  CRASH_POINT;
  atomic {
    if
    :: !coordinator_stopped -> wal_end[t] = (verified -> END_OK : END_VERIFY_FAILED)
    :: else -> skip
    fi
  };
  CRASH_POINT;
  /* step 8: a failed verify rolls back (finish_commit), ignoring breakers */
  if
  :: !verified && !stopped ->
     t = 1;
     atomic { e = next_epoch; next_epoch++ };
     goto txn
  :: else -> skip
  fi;
  /* the soak (coordinator/soak.rs): the gate's verdict on a verified commit
   * of transaction 0 is logged after its end; a breach rolls back */
  if
  :: verified && decision == COMMIT && t == 0 ->
     atomic {
       if
       :: !coordinator_stopped -> if :: wal_gate = GATE_PASS :: wal_gate = GATE_BREACH fi
       :: else -> skip
       fi
     };
     CRASH_POINT;
     if
     :: wal_gate == GATE_BREACH && !stopped ->
        t = 1;
        atomic { e = next_epoch; next_epoch++ };
        goto txn
     :: else -> skip
     fi
  :: else -> skip
  fi;
out:
  coordinator_done = true;
  coordinator_stopped = true
}

/* Coordinator::recover (log/recovery.rs next_action): runs once the
 * coordinator stopped or ended (the next rtt command); may crash and is
 * restarted with a newer epoch. Handles the last transaction begun: in
 * doubt, it is finished (presumed abort or the logged decision, then verify
 * for a commit); ended `verify_failed` with no rollback after it, the
 * rollback is run. */
proctype Recovery() {
  byte i; bool ok; bool fenced; byte e; byte decision; byte t;
  byte crashes = 0;
  bool verified;
  bool yes;
  coordinator_stopped;
restart:
  t = (wal_begin[1] -> 1 : 0);
  if
  :: !wal_begin[0] -> goto done                              /* Action::Nothing */
#ifndef NO_GATE_ROLLBACK_IN_RECOVERY
  :: t == 0 && wal_end[0] == END_OK && wal_gate == GATE_BREACH -> goto rollback
  :: wal_end[t] == END_OK && !(t == 0 && wal_gate == GATE_BREACH) -> goto done   /* Action::Nothing */
#else
  :: wal_end[t] == END_OK -> goto done                        /* Action::Nothing */
#endif
  :: t == 1 && wal_end[1] == END_VERIFY_FAILED -> goto done   /* a rollback is not rolled back */
#ifndef NO_ROLLBACK_IN_RECOVERY
  :: t == 0 && wal_end[0] == END_VERIFY_FAILED -> goto rollback
#else
  :: t == 0 && wal_end[0] == END_VERIFY_FAILED -> goto done
#endif
  :: wal_end[t] == END_NONE -> skip                           /* in doubt */
  fi;
  atomic { e = next_epoch; next_epoch++ };
#ifndef READ_BEFORE_FENCE
  /* Probe + Open every participant with the new epoch first: from here on
   * the old coordinator's calls are fenced off... */
  i = 0;
  do
  :: i < N -> atomic { fence(i, e, fenced) }; i++
  :: i == N -> break
  od;
#endif
  /* ...then read the decision: whatever the old coordinator managed to log
   * before the fence is seen here. No decision: presumed abort (logged). */
  atomic {
    if
    :: wal_decision[t] == NONE -> wal_decision[t] = ABORT
    :: else -> skip
    fi;
    decision = wal_decision[t]
  };
#ifdef READ_BEFORE_FENCE
  i = 0;
  do
  :: i < N -> atomic { fence(i, e, fenced) }; i++
  :: i == N -> break
  od;
#endif
deliver:
  i = 0;
  do
  :: i < N ->
#ifdef RECOVERY_HONOURS_BREAKERS
     if :: broken[i] -> i++; goto skipped :: else -> skip fi;
#endif
     if
     :: decision == COMMIT -> commit(t, i, e, ok)
     :: decision == ABORT -> abort(t, i, e, ok)
     fi;
     if
     :: !ok && crashes < MAX_RECOVERY_CRASHES -> crashes++; goto restart
     :: !ok && crashes == MAX_RECOVERY_CRASHES ->
        /* a driver that never answers: retry until it does (bounded here by
         * making the last attempt's answers reliable) */
        if
        :: decision == COMMIT -> atomic { fence(i, e, fenced); if :: !fenced && record[t * N + i] == PREPARED -> plan[i] = (t == 0 -> NEW : OLD); record[t * N + i] = COMMIT :: else -> skip fi }
        :: decision == ABORT -> atomic { fence(i, e, fenced); if :: !fenced && record[t * N + i] != COMMIT -> record[t * N + i] = ABORT :: else -> skip fi }
        fi
     :: else -> skip
     fi;
     i++;
#ifdef RECOVERY_HONOURS_BREAKERS
skipped: skip
#endif
  :: i == N -> break
  od;
  /* A commit of transaction 0 is verified like any other; a failure ends
   * it `verify_failed`, and next_action is then RollBack. */
  verified = true;
  if
  :: decision == COMMIT && t == 0 -> if :: verified = false :: skip fi
  :: else -> skip
  fi;
  wal_end[t] = (verified -> END_OK : END_VERIFY_FAILED);
  if
  :: !verified -> goto restart
  :: else -> goto done
  fi;
rollback:
  /* Action::RollBack (roll_back_after_verify_failure): transaction 1 run
   * whole by recovery, ignoring breakers; a driver that fails leaves it in
   * doubt for the next recovery round. */
  t = 1;
  atomic { e = next_epoch; next_epoch++ };
  wal_begin[1] = true;
  yes = true;
  i = 0;
  do
  :: i < N ->
     prepare(1, i, e, ok);
     if
     :: !ok -> yes = false; break
     :: else -> i++
     fi
  :: i == N -> break
  od;
  atomic {
    if
    :: wal_decision[1] == NONE -> wal_decision[1] = (yes -> COMMIT : ABORT)
    :: else -> skip
    fi;
    decision = wal_decision[1]
  };
  goto deliver;
done:
  recovery_done = true
}

init {
  byte i;
  atomic {
    i = 0;
    do
    :: i < N -> plan[i] = OLD; record[i] = NONE; record[N + i] = NONE; highest[i] = 0; broken[i] = false; i++
    :: i == N -> break
    od;
    wal_begin[0] = false; wal_begin[1] = false; wal_gate = GATE_NONE;
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
  /* No lost commit: the plan in force is what the logged decisions say —
   * NEW exactly when transaction 0 committed and no rollback committed. */
  assert((plan[0] == NEW) == (wal_decision[0] == COMMIT && !(wal_begin[1] && wal_decision[1] == COMMIT)));
  /* A commit that failed verify is always rolled back (by the coordinator,
   * or by recovery when the coordinator died first)... */
  assert(wal_end[0] != END_VERIFY_FAILED || wal_begin[1]);
  /* A logged breach is always rolled back too... */
  assert(wal_gate != GATE_BREACH || wal_begin[1]);
  /* ...and a rollback only ever follows a commit that failed verify or its gate. */
  assert(!wal_begin[1] || (wal_decision[0] == COMMIT && (wal_end[0] == END_VERIFY_FAILED || wal_gate == GATE_BREACH)));
  /* Nothing stays prepared: every participant that voted yes heard the outcome. */
  i = 0;
  do
  :: i < N -> assert(record[i] != PREPARED && record[N + i] != PREPARED); i++
  :: i == N -> break
  od;
  /* The WAL is finished. */
  assert(!wal_begin[0] || wal_end[0] != END_NONE);
  assert(!wal_begin[1] || wal_end[1] != END_NONE)
}

/* Recovery terminates: every run reaches the end of both processes. */
ltl terminates { <> (recovery_done && coordinator_done) }
