import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The Office Server seal, computed in Java from the generated classes, for the
 * interop run: every field but keyVersion, sealAlgorithm and seal, by name
 * ignoring case, values only, containers in place, lists item by item;
 * HMAC-SHA-256 keyed with the secret key's UTF-8 bytes, lowercase hex.
 * Written here from the rule, independently of the Python package.
 */
final class Seal {
    private Seal() {}

    static String of(Object message, String key) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        byte[] digest = mac.doFinal(text(message).getBytes(StandardCharsets.UTF_8));
        StringBuilder hex = new StringBuilder();
        for (byte b : digest) {
            hex.append(String.format("%02x", b));
        }
        return hex.toString();
    }

    static boolean verify(Object message, String seal, String key) throws Exception {
        return seal != null && java.security.MessageDigest.isEqual(
            of(message, key).getBytes(StandardCharsets.US_ASCII),
            seal.toLowerCase().getBytes(StandardCharsets.US_ASCII));
    }

    static String text(Object value) throws Exception {
        StringBuilder out = new StringBuilder();
        append(out, value);
        return out.toString();
    }

    private static void append(StringBuilder out, Object value) throws Exception {
        if (value == null) {
            return;
        }
        if (value instanceof String || value instanceof Number || value instanceof Boolean) {
            out.append(value);
            return;
        }
        if (value instanceof Enum) {
            Method name = value.getClass().getMethod("value");
            out.append(name.invoke(value));
            return;
        }
        if (value instanceof List) {
            for (Object item : (List<?>) value) {
                append(out, item);
            }
            return;
        }
        Map<String, Object> fields = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        List<Field> all = new ArrayList<>();
        for (Class<?> kind = value.getClass(); kind != null && kind != Object.class;
                kind = kind.getSuperclass()) {
            for (Field field : kind.getDeclaredFields()) {
                all.add(field);
            }
        }
        for (Field field : all) {
            String name = field.getName();
            if (name.equals("keyVersion") || name.equals("sealAlgorithm") || name.equals("seal")
                    || java.lang.reflect.Modifier.isStatic(field.getModifiers())) {
                continue;
            }
            field.setAccessible(true);
            fields.put(name, field.get(value));
        }
        for (Object item : fields.values()) {
            append(out, item);
        }
    }
}
