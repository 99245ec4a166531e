// Drives a JDBC driver's DatabaseMetaData through the Sluice gateway and prints a JSON report on
// stdout.
//
// Usage: java -cp <dir>:<driver.jar> JdbcCatalogCheck "<jdbc URL>" <user> <password> <schema>
//        (an agent token for tenant-a as password; <schema> is `public` for PostgreSQL and the
//        database's name for MariaDB, passed as the catalog there)
//
// integration/tests/catalog_jvm_node_cli_clients.rs compiles this file with javac at test time
// (Debian's PgJDBC and MariaDB Connector/J jars on the class path) and checks the report. Each
// DatabaseMetaData call is what the driver turns into catalog queries (pg_catalog for PgJDBC,
// information_schema for Connector/J), which the gateway serves confined to the token's scope.
// Any exception ends the program non-zero, which fails the test.

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

public class JdbcCatalogCheck {
    public static void main(String[] args) throws SQLException {
        String url = args[0];
        String user = args[1];
        String password = args[2];
        String schema = args[3];
        boolean mariadb = url.startsWith("jdbc:mariadb:");
        // Connector/J names a MariaDB database as the catalog; PgJDBC names the schema.
        String catalog = mariadb ? schema : null;
        String schemaPattern = mariadb ? null : schema;
        try (Connection conn = DriverManager.getConnection(url, user, password)) {
            DatabaseMetaData md = conn.getMetaData();
            StringBuilder out = new StringBuilder("{");
            out.append("\"driver\":").append(str(md.getDriverName())).append(',');

            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(catalog, schemaPattern, "%", new String[] {"TABLE"})) {
                while (rs.next()) {
                    tables.add(rs.getString("TABLE_NAME"));
                }
            }
            out.append("\"tables\":").append(strs(tables)).append(',');

            out.append("\"columns\":{");
            for (int i = 0; i < tables.size(); i++) {
                String t = tables.get(i);
                List<String> cols = new ArrayList<>();
                try (ResultSet rs = md.getColumns(catalog, schemaPattern, t, "%")) {
                    while (rs.next()) {
                        cols.add(rs.getString("COLUMN_NAME"));
                    }
                }
                out.append(i == 0 ? "" : ",").append(str(t)).append(':').append(strs(cols));
            }
            out.append("},");

            out.append("\"primary_keys\":{");
            for (int i = 0; i < tables.size(); i++) {
                String t = tables.get(i);
                List<String> cols = new ArrayList<>();
                try (ResultSet rs = md.getPrimaryKeys(catalog, schemaPattern, t)) {
                    while (rs.next()) {
                        cols.add(rs.getString("COLUMN_NAME"));
                    }
                }
                out.append(i == 0 ? "" : ",").append(str(t)).append(':').append(strs(cols));
            }
            out.append("},");

            // Foreign keys of orders, as [fk column, referenced table, referenced column].
            out.append("\"orders_imported_keys\":[");
            try (ResultSet rs = md.getImportedKeys(catalog, schemaPattern, "orders")) {
                boolean first = true;
                while (rs.next()) {
                    out.append(first ? "" : ",").append('[')
                        .append(str(rs.getString("FKCOLUMN_NAME"))).append(',')
                        .append(str(rs.getString("PKTABLE_NAME"))).append(',')
                        .append(str(rs.getString("PKCOLUMN_NAME"))).append(']');
                    first = false;
                }
            }
            out.append("],");

            // Tables referencing customers: orders only (vault_canary is not granted).
            out.append("\"customers_exported_keys\":[");
            try (ResultSet rs = md.getExportedKeys(catalog, schemaPattern, "customers")) {
                boolean first = true;
                while (rs.next()) {
                    out.append(first ? "" : ",").append('[')
                        .append(str(rs.getString("FKTABLE_NAME"))).append(',')
                        .append(str(rs.getString("FKCOLUMN_NAME"))).append(']');
                    first = false;
                }
            }
            out.append("],");

            // customers' indexes, as [index name, column name] (PgJDBC also lists the primary
            // key's index; the ones on hidden columns must not show).
            out.append("\"customers_indexes\":[");
            try (ResultSet rs = md.getIndexInfo(catalog, schemaPattern, "customers", false, false)) {
                boolean first = true;
                while (rs.next()) {
                    out.append(first ? "" : ",").append('[')
                        .append(str(rs.getString("INDEX_NAME"))).append(',')
                        .append(str(rs.getString("COLUMN_NAME"))).append(']');
                    first = false;
                }
            }
            out.append("],");

            // The ungranted table, asked for by name.
            List<String> vault = new ArrayList<>();
            try (ResultSet rs = md.getColumns(catalog, schemaPattern, "vault_canary", "%")) {
                while (rs.next()) {
                    vault.add(rs.getString("COLUMN_NAME"));
                }
            }
            out.append("\"vault_columns\":").append(strs(vault)).append(',');

            List<String> names = new ArrayList<>();
            try (Statement st = conn.createStatement();
                    ResultSet rs = st.executeQuery("SELECT name FROM customers ORDER BY id")) {
                while (rs.next()) {
                    names.add(rs.getString(1));
                }
            }
            out.append("\"names\":").append(strs(names));
            out.append('}');
            System.out.println(out);
        }
    }

    private static String strs(List<String> values) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < values.size(); i++) {
            b.append(i == 0 ? "" : ",").append(str(values.get(i)));
        }
        return b.append(']').toString();
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
