<?php
// The side-by-side anchor: PHP's SoapClient (C) enrolling N cards in a loop.
// Usage: php benchmarks/php_loop.php ENDPOINT_URL WSDL_PATH N PREFIX
// Prints one JSON line: seconds, calls, ok (00 answers whose seal verified).
[$_, $url, $wsdl, $n, $prefix] = $argv;
$key = '002001000000001_KEY1';  // the public simulation key

function seal_of(array $fields, string $key): string {
    unset($fields['keyVersion'], $fields['sealAlgorithm'], $fields['seal']);
    ksort($fields, SORT_STRING);
    return hash_hmac('sha256', implode('', $fields), $key);
}

$client = new SoapClient($wsdl, [
    'location' => $url, 'cache_wsdl' => WSDL_CACHE_MEMORY, 'exceptions' => true,
    'keep_alive' => true,
]);
$ok = 0;
$started = hrtime(true);
for ($i = 0; $i < (int) $n; $i++) {
    $fields = [
        'merchantId' => '002001000000001', 'interfaceVersion' => 'WR_WS_2.55',
        'keyVersion' => 1, 'sealAlgorithm' => 'HMAC-SHA-256',
        'merchantWalletId' => "$prefix-$i", 'cardNumber' => '4100000000000000',
        'cardExpiryDate' => '203012',
    ];
    $fields['seal'] = seal_of($fields, $key);
    $out = (array) $client->addCard(['input' => $fields])->output;
    if (($out['walletResponseCode'] ?? '') === '00'
        && hash_equals(seal_of($out, $key), $out['seal'] ?? '')) {
        $ok++;
    }
}
$seconds = (hrtime(true) - $started) / 1e9;
echo json_encode(['seconds' => $seconds, 'calls' => (int) $n, 'ok' => $ok]), "\n";
