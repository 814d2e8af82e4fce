import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.jws.WebService;
import javax.xml.ws.Endpoint;
import sips.cn.contract.office.wallet.v2.*;

/**
 * The wallet service as a Java peer: JAX-WS (Debian's reference implementation)
 * serving the classes wsimport generated from the bundled WSDL, in memory.
 * Each request's seal is verified in Java (34 when wrong) and each answer sealed
 * in Java, so the Python client is checked against a stack nobody here wrote.
 *
 *     java WalletServer PORT     (serves http://127.0.0.1:PORT/services/v2/wallet)
 */
@WebService(
    endpointInterface = "sips.cn.contract.office.wallet.v2.WalletService",
    serviceName = "WalletServiceImplService",
    portName = "cnv2WalletServiceImplPort",
    targetNamespace = "urn:sips:cn:contract:office:wallet:v2")
public final class WalletServer implements WalletService {
    static final String KEY = "002001000000001_KEY1";
    private final Map<String, Map<String, WalletPaymentMeanData>> wallets = new LinkedHashMap<>();
    private final Map<String, Map<String, String>> cards = new LinkedHashMap<>();
    private int nextId = 1;

    public static void main(String[] args) {
        String url = "http://127.0.0.1:" + args[0] + "/services/v2/wallet";
        Endpoint.publish(url, new WalletServer());
        System.out.println(url);
        System.out.flush();
    }

    private static String now() {
        return OffsetDateTime.now(ZoneOffset.ofHours(1)).withNano(0).toString();
    }

    private static boolean sealed(Object request, String seal) {
        try {
            return Seal.verify(request, seal, KEY);
        } catch (Exception e) {
            return false;
        }
    }

    private static <T> T seal(T answer) {
        try {
            answer.getClass().getMethod("setSeal", String.class).invoke(answer, Seal.of(answer, KEY));
            return answer;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public synchronized AddCardOutput addCard(AddCardRequest in) {
        AddCardOutput out = new AddCardOutput();
        if (!sealed(in, in.getSeal())) {
            out.setWalletResponseCode("34");
            return seal(out);
        }
        Map<String, String> known = cards.computeIfAbsent(in.getMerchantWalletId(), w -> new LinkedHashMap<>());
        if (known.containsKey(in.getCardNumber())) {
            out.setWalletResponseCode("94");
            return seal(out);
        }
        String pan = in.getCardNumber();
        WalletPaymentMeanData mean = new WalletPaymentMeanData();
        mean.setPaymentMeanId(Integer.toString(nextId++));
        mean.setMaskedPan(pan.substring(0, 4) + "#".repeat(pan.length() - 6) + pan.substring(pan.length() - 2));
        mean.setPanExpiryDate(in.getCardExpiryDate());
        mean.setPaymentMeanAlias(in.getPaymentMeanAlias());
        mean.setPaymentMeanBrand(pan.startsWith("4") ? "VISA" : "MASTERCARD");
        known.put(pan, mean.getPaymentMeanId());
        wallets.computeIfAbsent(in.getMerchantWalletId(), w -> new LinkedHashMap<>())
            .put(mean.getPaymentMeanId(), mean);
        out.setWalletResponseCode("00");
        out.setWalletActionDateTime(now());
        out.setPaymentMeanId(mean.getPaymentMeanId());
        out.setMaskedPan(mean.getMaskedPan());
        return seal(out);
    }

    @Override
    public synchronized GetWalletDataOutput getWalletData(GetWalletDataRequest in) {
        GetWalletDataOutput out = new GetWalletDataOutput();
        Map<String, WalletPaymentMeanData> wallet = wallets.get(in.getMerchantWalletId());
        if (!sealed(in, in.getSeal())) {
            out.setWalletResponseCode("34");
        } else if (wallet == null) {
            out.setWalletResponseCode("25");
        } else {
            out.setWalletResponseCode("00");
            out.setWalletCreationDateTime(now());
            out.setWalletLastActionDateTime(now());
            WalletPaymentMeanDataList list = new WalletPaymentMeanDataList();
            list.getWalletPaymentMeanData().addAll(wallet.values());
            out.setWalletPaymentMeanDataList(list);
        }
        return seal(out);
    }

    @Override
    public synchronized GetPaymentMeanDataOutput getPaymentMeanData(GetPaymentMeanDataRequest in) {
        GetPaymentMeanDataOutput out = new GetPaymentMeanDataOutput();
        Map<String, WalletPaymentMeanData> wallet = wallets.get(in.getMerchantWalletId());
        WalletPaymentMeanData mean = wallet == null ? null : wallet.get(in.getPaymentMeanId());
        if (!sealed(in, in.getSeal())) {
            out.setWalletResponseCode("34");
        } else if (mean == null) {
            out.setWalletResponseCode("25");
        } else {
            out.setWalletResponseCode("00");
            out.setWalletPaymentMeanData(mean);
        }
        return seal(out);
    }

    private WalletActionOutput action(boolean sealedRight, boolean known) {
        WalletActionOutput out = new WalletActionOutput();
        out.setWalletResponseCode(!sealedRight ? "34" : known ? "00" : "25");
        if (sealedRight && known) {
            out.setWalletActionDateTime(now());
        }
        return seal(out);
    }

    @Override
    public synchronized WalletActionOutput updatePaymentMean(UpdatePaymentMeanRequest in) {
        Map<String, WalletPaymentMeanData> wallet = wallets.get(in.getMerchantWalletId());
        WalletPaymentMeanData mean = wallet == null ? null : wallet.get(in.getPaymentMeanId());
        boolean right = sealed(in, in.getSeal());
        if (right && mean != null) {
            mean.setPaymentMeanAlias(in.getPaymentMeanAlias());
        }
        return action(right, mean != null);
    }

    @Override
    public synchronized WalletActionOutput deletePaymentMean(DeletePaymentMeanRequest in) {
        Map<String, WalletPaymentMeanData> wallet = wallets.get(in.getMerchantWalletId());
        boolean right = sealed(in, in.getSeal());
        boolean known = wallet != null && wallet.containsKey(in.getPaymentMeanId());
        if (right && known) {
            wallet.remove(in.getPaymentMeanId());
            cards.get(in.getMerchantWalletId()).values().remove(in.getPaymentMeanId());
        }
        return action(right, known);
    }

    @Override
    public synchronized WalletActionOutput signOff(SignOffRequest in) {
        boolean right = sealed(in, in.getSeal());
        boolean known = wallets.containsKey(in.getMerchantWalletId());
        if (right && known) {
            wallets.remove(in.getMerchantWalletId());
            cards.remove(in.getMerchantWalletId());
        }
        return action(right, known);
    }
}
