package rtt.driver;

/** A protocol error: a snake_case code and a message for people. */
public final class Refusal extends Exception {
    private static final long serialVersionUID = 1L;

    private final String code;

    public Refusal(String code, String message) {
        super(message);
        this.code = code;
    }

    /** The wire code, e.g. {@code stale_epoch}. */
    public String code() {
        return code;
    }

    static Refusal bad(String message) {
        return new Refusal("bad_request", message);
    }
}
