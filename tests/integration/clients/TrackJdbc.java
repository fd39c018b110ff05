// pgjdbc client for the track-mode integration tests (test_track_clients.py): prints what it saw, one fact per line.

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Properties;

import org.postgresql.PGResultSetMetaData;
import org.postgresql.PGStatement;

/**
 * Usage: TrackJdbc rmw HOST PORT DB USER PASSWORD ITERATIONS [autocommit|transactions]
 *        TrackJdbc queries HOST PORT DB USER PASSWORD FILE REPEAT
 *        TrackJdbc autosave HOST PORT DB USER PASSWORD
 *        TrackJdbc dates HOST PORT DB USER PASSWORD PREPARE_THRESHOLD
 *
 * rmw: connection A reads row 1 of accounts and writes balance + 1, ITERATIONS times through the
 * same two PreparedStatements (prepareThreshold=3, binaryTransfer=true: they become named
 * server-side statements with binary results part-way); connection B then writes the row; A writes
 * again without re-reading (expected to fail), re-reads and writes once more. With "transactions"
 * A runs with autocommit off (pgjdbc then sends BEGIN in the same batch as the first statement of
 * each transaction) and commits after each write; after the failed write it shows that its
 * transaction was aborted, then rolls back.
 *
 * autosave: connection A (autosave=always, autocommit off: pgjdbc sets a savepoint before each
 * statement and rolls back to it when the statement fails) reads rows 1 to 3; connection B writes
 * row 2; A writes all three in one transaction (the write of row 2 fails, the transaction goes on)
 * and commits. A then writes row 1 again without re-reading, re-reads row 2 and writes it, and
 * writes row 3 in a transaction it rolls back, then again.
 *
 * dates: for each way of binding a date or timestamp key (setDate, setObject(LocalDate),
 * setTimestamp, setObject(LocalDateTime)), connections A and B read the row of sales (key
 * (store, day)) or events (key at), B writes it, then A writes it without re-reading; prints
 * "STYLE updated=N" or "STYLE sqlstate=S" for A's write. The statements are named server-side
 * ones from their PREPARE_THRESHOLD-th execution on; each is executed three times before the
 * scenario, on rows of their own.
 *
 * queries: each line of FILE is a statement, optionally followed by a tab and comma-separated
 * integer parameters; each is executed REPEAT times through one PreparedStatement
 * (prepareThreshold=1, binaryTransfer=true) and every result is printed: column label, type name
 * and wire format, then each row's values as getString() gives them.
 */
public final class TrackJdbc {
    private TrackJdbc() {}

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + args[1] + ":" + args[2] + "/" + args[3];
        Properties props = new Properties();
        props.setProperty("user", args[4]);
        props.setProperty("password", args[5]);
        props.setProperty("sslmode", "disable");
        props.setProperty("binaryTransfer", "true");
        switch (args[0]) {
            case "rmw" -> {
                props.setProperty("prepareThreshold", "3");
                readModifyWrite(url, props, Integer.parseInt(args[6]), args.length > 7 && args[7].equals("transactions"));
            }
            case "autosave" -> {
                props.setProperty("autosave", "always");
                autosave(url, props);
            }
            case "dates" -> {
                props.setProperty("prepareThreshold", args[6]);
                dates(url, props);
            }
            case "queries" -> {
                props.setProperty("prepareThreshold", "1");
                queries(url, props, Path.of(args[6]), Integer.parseInt(args[7]));
            }
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
    }

    private static void readModifyWrite(String url, Properties props, int iterations, boolean transactions)
            throws SQLException {
        try (Connection a = DriverManager.getConnection(url, props);
             PreparedStatement select = a.prepareStatement("SELECT balance, version FROM accounts WHERE id = ?");
             PreparedStatement update = a.prepareStatement("UPDATE accounts SET balance = ? WHERE id = ?")) {
            a.setAutoCommit(!transactions);
            int balance = 0;
            for (int i = 1; i <= iterations; ++i) {
                boolean serverPrepared = select.unwrap(PGStatement.class).isUseServerPrepare();
                select.setInt(1, 1);
                long version;
                int format;
                try (ResultSet rs = select.executeQuery()) {
                    rs.next();
                    balance = rs.getInt(1);
                    version = rs.getLong(2);
                    format = rs.getMetaData().unwrap(PGResultSetMetaData.class).getFormat(1);
                }
                update.setInt(1, balance + 1);
                update.setInt(2, 1);
                int updated = update.executeUpdate();
                if (transactions) {
                    a.commit();
                }
                System.out.println("iteration=" + i + " read_balance=" + balance + " read_version=" + version
                                   + " format=" + format + " server_prepared=" + serverPrepared
                                   + " updated=" + updated);
                balance += 1;
            }
            try (Connection b = DriverManager.getConnection(url, props); Statement s = b.createStatement()) {
                System.out.println("other_updated=" + s.executeUpdate("UPDATE accounts SET balance = 1000 WHERE id = 1"));
            }
            update.setInt(1, balance + 1);
            update.setInt(2, 1);
            try {
                System.out.println("stale_write updated=" + update.executeUpdate());
            } catch (SQLException e) {
                System.out.println("stale_write sqlstate=" + e.getSQLState() + " message=" + oneLine(e.getMessage()));
                if (transactions) {
                    try (Statement s = a.createStatement()) {
                        s.executeQuery("SELECT 1").close();
                        System.out.println("after_stale transaction_open");
                    } catch (SQLException aborted) {
                        System.out.println("after_stale sqlstate=" + aborted.getSQLState());
                    }
                    a.rollback();
                }
            }
            select.setInt(1, 1);
            try (ResultSet rs = select.executeQuery()) {
                rs.next();
                balance = rs.getInt(1);
            }
            update.setInt(1, balance + 1);
            update.setInt(2, 1);
            System.out.println("after_reread updated=" + update.executeUpdate() + " read_balance=" + balance);
            if (transactions) {
                a.commit();
            }
        }
    }

    private static void autosave(String url, Properties props) throws SQLException {
        try (Connection a = DriverManager.getConnection(url, props);
             PreparedStatement select = a.prepareStatement("SELECT balance FROM accounts WHERE id = ?");
             PreparedStatement update = a.prepareStatement("UPDATE accounts SET balance = ? WHERE id = ?")) {
            a.setAutoCommit(false);
            for (int id = 1; id <= 3; ++id) {
                select.setInt(1, id);
                select.executeQuery().close();
            }
            a.commit();
            try (Connection b = DriverManager.getConnection(url, props); Statement s = b.createStatement()) {
                s.executeQuery("SELECT balance FROM accounts WHERE id = 2").close();
                System.out.println("other_updated=" + s.executeUpdate("UPDATE accounts SET balance = 7 WHERE id = 2"));
            }
            for (int id = 1; id <= 3; ++id) {
                System.out.println("write " + id + " " + tryUpdate(update, 10 * id, id));
            }
            a.commit();
            System.out.println("again 1 " + tryUpdate(update, 11, 1));
            a.commit();
            select.setInt(1, 2);
            select.executeQuery().close();
            System.out.println("after_reread 2 " + tryUpdate(update, 22, 2));
            a.commit();
            System.out.println("rolled_back 3 " + tryUpdate(update, 33, 3));
            a.rollback();
            System.out.println("after_rollback 3 " + tryUpdate(update, 34, 3));
            a.commit();
        }
    }

    private static void dates(String url, Properties props) throws SQLException {
        for (String style : List.of("setDate", "setObject(LocalDate)", "setTimestamp", "setObject(LocalDateTime)")) {
            boolean timestamp = style.equals("setTimestamp") || style.equals("setObject(LocalDateTime)");
            String table = timestamp ? "events" : "sales";
            String where = timestamp ? "at = ?" : "store = 7 AND day = ?";
            try (Connection a = DriverManager.getConnection(url, props);
                 Connection b = DriverManager.getConnection(url, props);
                 PreparedStatement selectA = a.prepareStatement("SELECT n FROM " + table + " WHERE " + where);
                 PreparedStatement selectB = b.prepareStatement("SELECT n FROM " + table + " WHERE " + where);
                 PreparedStatement updateA = a.prepareStatement("UPDATE " + table + " SET n = n + 1 WHERE " + where);
                 PreparedStatement updateB = b.prepareStatement("UPDATE " + table + " SET n = n + 1 WHERE " + where)) {
                // Warm-up on other rows, each statement executed three times: A reads and writes,
                // then B does.
                for (int day = 2; day <= 4; ++day) {
                    for (PreparedStatement statement : List.of(selectA, updateA, selectB, updateB)) {
                        bindMoment(statement, style, day);
                        statement.execute();
                    }
                }
                for (PreparedStatement select : List.of(selectA, selectB)) {
                    bindMoment(select, style, 1);
                    select.executeQuery().close();
                }
                bindMoment(updateB, style, 1);
                updateB.executeUpdate();
                bindMoment(updateA, style, 1);
                try {
                    System.out.println(style + " updated=" + updateA.executeUpdate());
                } catch (SQLException e) {
                    System.out.println(style + " sqlstate=" + e.getSQLState());
                }
            }
        }
    }

    // May `day`th of 2024: the date, or that day at 13:45:00.25.
    private static void bindMoment(PreparedStatement statement, String style, int day) throws SQLException {
        switch (style) {
            case "setDate" -> statement.setDate(1, java.sql.Date.valueOf(java.time.LocalDate.of(2024, 5, day)));
            case "setObject(LocalDate)" -> statement.setObject(1, java.time.LocalDate.of(2024, 5, day));
            case "setTimestamp" -> statement.setTimestamp(1, java.sql.Timestamp.valueOf(
                java.time.LocalDateTime.of(2024, 5, day, 13, 45, 0, 250_000_000)));
            case "setObject(LocalDateTime)" -> statement.setObject(1, java.time.LocalDateTime.of(2024, 5, day, 13, 45, 0,
                                                                                             250_000_000));
            default -> throw new IllegalArgumentException(style);
        }
    }

    // "updated=N", or "sqlstate=S" when the statement fails.
    private static String tryUpdate(PreparedStatement update, int balance, int id) {
        try {
            update.setInt(1, balance);
            update.setInt(2, id);
            return "updated=" + update.executeUpdate();
        } catch (SQLException e) {
            return "sqlstate=" + e.getSQLState();
        }
    }

    private static void queries(String url, Properties props, Path file, int repeat) throws Exception {
        List<String> lines = Files.readAllLines(file);
        try (Connection conn = DriverManager.getConnection(url, props)) {
            for (String line : lines) {
                if (line.isBlank()) {
                    continue;
                }
                String[] parts = line.split("\t", 2);
                try (PreparedStatement ps = conn.prepareStatement(parts[0])) {
                    for (int run = 1; run <= repeat; ++run) {
                        System.out.println("statement " + parts[0] + " (run " + run + ")");
                        if (parts.length > 1) {
                            String[] params = parts[1].split(",");
                            for (int i = 0; i < params.length; ++i) {
                                ps.setInt(i + 1, Integer.parseInt(params[i].trim()));
                            }
                        }
                        try {
                            printResult(ps, ps.execute());
                        } catch (SQLException e) {
                            System.out.println("error " + e.getSQLState() + " " + oneLine(e.getMessage()));
                        }
                    }
                }
            }
        }
    }

    private static void printResult(PreparedStatement ps, boolean hasResultSet) throws SQLException {
        if (!hasResultSet) {
            System.out.println("count " + ps.getUpdateCount());
            return;
        }
        try (ResultSet rs = ps.getResultSet()) {
            ResultSetMetaData meta = rs.getMetaData();
            PGResultSetMetaData pgMeta = meta.unwrap(PGResultSetMetaData.class);
            StringBuilder columns = new StringBuilder("columns");
            for (int i = 1; i <= meta.getColumnCount(); ++i) {
                columns.append(" | ").append(meta.getColumnLabel(i)).append(':').append(meta.getColumnTypeName(i))
                       .append(':').append(pgMeta.getFormat(i) == 1 ? "binary" : "text");
            }
            System.out.println(columns);
            while (rs.next()) {
                StringBuilder row = new StringBuilder("row");
                for (int i = 1; i <= meta.getColumnCount(); ++i) {
                    String value = rs.getString(i);
                    row.append(" | ").append(value == null ? "NULL" : oneLine(value));
                }
                System.out.println(row);
            }
        }
    }

    // Values and messages on one line each: the test reads the output line by line.
    private static String oneLine(String text) {
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace("|", "\\|");
    }
}
