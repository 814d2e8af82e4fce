<?php
// Independent check: PHP's own SOAP stack against a wallet endpoint.
// Usage: php interop/php_add_card.php ENDPOINT_URL [WALLET_ID]
// The key comes from SOGEN_SECRET_KEY (default: the public simulation key).
$url = $argv[1];
$wallet = $argv[2] ?? 'php-1';
$key = getenv('SOGEN_SECRET_KEY') ?: '002001000000001_KEY1';

function seal_of(array $fields, string $key): string {
    unset($fields['keyVersion'], $fields['sealAlgorithm'], $fields['seal']);
    ksort($fields, SORT_STRING);
    return hash_hmac('sha256', implode('', $fields), $key);
}

$client = new SoapClient($url . '?wsdl', ['cache_wsdl' => WSDL_CACHE_NONE, 'exceptions' => true]);
$fields = [
    'merchantId' => '002001000000001',
    'interfaceVersion' => 'WR_WS_2.55',
    'keyVersion' => 1,
    'sealAlgorithm' => 'HMAC-SHA-256',
    'merchantWalletId' => $wallet,
    'cardNumber' => '4100000000000000',
    'cardExpiryDate' => '203012',
];
$fields['seal'] = seal_of($fields, $key);
$out = (array) $client->addCard(['input' => $fields])->output;
$seal = $out['seal'] ?? '';
echo json_encode([
    'operations' => count($client->__getFunctions()),
    'walletResponseCode' => $out['walletResponseCode'] ?? null,
    'maskedPan' => $out['maskedPan'] ?? null,
    'paymentMeanId' => $out['paymentMeanId'] ?? null,
    'responseSealOk' => $seal !== '' && hash_equals(seal_of($out, $key), $seal),
]), "\n";
