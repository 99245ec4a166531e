// Writes through PgJDBC with autocommit off, as the JDBC tutorial's transactions do, through the
// Sluice gateway, and prints a JSON report on stdout.
//
// Usage: java -cp <dir>:<postgresql.jar> JdbcWriteCheck "<jdbc URL>" <user> <password>
//        (an agent_support token for acme as password)
//
// With `setAutoCommit(false)` PgJDBC opens each transaction itself with a `BEGIN` it sends before
// the first statement, and fails the transaction unless that BEGIN's command tag is `BEGIN`. In
// three transactions: a `PreparedStatement` INSERT binding `tenant_id` (acme), committed; another
// one rolled back (with a savepoint released on the way); then one binding globex, which the
// gateway must refuse (`write_not_confinable`, 42501) and the program rolls back. The acme row
// is updated in a fourth transaction. integration/tests/orm_writes.rs compiles this file with
// javac at test time against Debian's PgJDBC jar, checks the report's exact values and the table
// through a direct connection. An unexpected exception ends the program non-zero.

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;

public class JdbcWriteCheck {
    static final String INSERT =
        "INSERT INTO reservations (tenant_id, customer_id, vehicle_id, status, notes, starts_on, price) "
            + "VALUES (?, ?, ?, ?, ?, ?, ?)";

    public static void main(String[] args) throws SQLException {
        String url = args[0];
        String user = args[1];
        String password = args[2];
        StringBuilder out = new StringBuilder("{");
        try (Connection conn = DriverManager.getConnection(url, user, password)) {
            out.append("\"versions\":{\"PgJDBC\":").append(str(conn.getMetaData().getDriverVersion()))
                .append("},");
            conn.setAutoCommit(false);

            // Committed: the generated id comes back through RETURNING "id".
            long id = insert(conn, "acme", "orm-jdbc");
            conn.commit();
            out.append("\"id\":").append(id).append(',');
            out.append("\"inserted\":").append(row(conn, id)).append(',');
            conn.commit();

            // Rolled back, with a savepoint set and released on the way.
            Savepoint sp = conn.setSavepoint("before_insert");
            long gone = insert(conn, "acme", "orm-jdbc-rolledback");
            conn.releaseSavepoint(sp);
            out.append("\"rolled_back_id\":").append(gone).append(',');
            conn.rollback();
            out.append("\"rolled_back_seen\":").append(count(conn, "notes = 'orm-jdbc-rolledback'")).append(',');
            conn.commit();

            // Another tenant bound: refused, nothing written; the transaction is rolled back.
            try {
                insert(conn, "globex", "orm-jdbc-globex");
                conn.commit();
                out.append("\"globex\":\"written\",");
            } catch (SQLException e) {
                out.append("\"globex\":{\"sqlstate\":").append(str(e.getSQLState()))
                    .append(",\"message\":").append(str(e.getMessage())).append("},");
                conn.rollback();
            }

            // The session goes on: an update of the acme row, committed.
            try (PreparedStatement ps = conn.prepareStatement(
                    "UPDATE reservations SET notes = ?, status = ? WHERE id = ?")) {
                ps.setString(1, "orm-jdbc-updated");
                ps.setString(2, "active");
                ps.setLong(3, id);
                out.append("\"update\":").append(ps.executeUpdate()).append(',');
            }
            conn.commit();
            out.append("\"updated\":").append(row(conn, id)).append(',');
            out.append("\"after\":").append(count(conn, "true"));
            conn.commit();
        }
        System.out.println(out.append('}'));
    }

    /// One reservation with `tenant` bound as a parameter; the generated id.
    static long insert(Connection conn, String tenant, String notes) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement(INSERT, new String[] {"id"})) {
            ps.setString(1, tenant);
            ps.setInt(2, 2);
            ps.setInt(3, 3);
            ps.setString(4, "booked");
            ps.setString(5, notes);
            ps.setDate(6, Date.valueOf("2026-05-01"));
            ps.setBigDecimal(7, new BigDecimal("150.25"));
            ps.executeUpdate();
            try (ResultSet keys = ps.getGeneratedKeys()) {
                keys.next();
                return keys.getLong(1);
            }
        }
    }

    /// A reservation as the test's direct connection shows it.
    static String row(Connection conn, long id) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement(
                "SELECT id, tenant_id, customer_id, vehicle_id, status, notes, starts_on, price "
                    + "FROM reservations WHERE id = ?")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return "null";
                }
                return "[" + rs.getLong(1) + "," + str(rs.getString(2)) + "," + rs.getLong(3) + ","
                    + rs.getLong(4) + "," + str(rs.getString(5)) + "," + str(rs.getString(6)) + ","
                    + str(rs.getDate(7).toString()) + "," + str(rs.getBigDecimal(8).toPlainString())
                    + "]";
            }
        }
    }

    /// Reservations the token sees where `condition` holds.
    static long count(Connection conn, String condition) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement(
                "SELECT count(*) FROM reservations WHERE " + condition);
             ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static String str(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
