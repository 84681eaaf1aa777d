<?php

declare(strict_types=1);

namespace AttendanceBridge\Laravel\Tests\Integration;

use AttendanceBridge\Laravel\Exceptions\AuthenticationException;
use AttendanceBridge\Laravel\Exceptions\AuthorizationException;
use AttendanceBridge\Laravel\Exceptions\BadRequestException;
use AttendanceBridge\Laravel\Exceptions\ConflictException;
use AttendanceBridge\Laravel\Exceptions\NotFoundException;
use AttendanceBridge\Laravel\Exceptions\UnprocessableEntityException;
use AttendanceBridge\Laravel\Facades\AttendanceBridge;
use AttendanceBridge\Laravel\Auth\TokenSigner;
use AttendanceBridge\Laravel\Client;
use AttendanceBridge\Laravel\Exceptions\ApiException;

/** Each operation of the client against the running services. */
final class OperationsTest extends BridgeTestCase
{
    public function testAnUploadOfBasicCsvIsFollowedToItsEnd(): void
    {
        $imports = $this->as('operator')->imports();
        $dry = $imports->uploadFile(self::fixture('basic.csv'), 'basic-dry-run.csv', dryRun: true);
        self::assertTrue($dry['dry_run']);
        self::assertSame(['total' => 21, 'valid' => 18, 'invalid' => 2, 'skipped' => 1], array_intersect_key($dry['rows'], array_flip(['total', 'valid', 'invalid', 'skipped'])));

        $import = $this->settledBasicImport();
        self::assertSame('completed', $import['status']);
        self::assertSame('basic.csv', $import['filename']);
        self::assertSame(['Marketing Dept'], array_column($import['unmapped_departments'], 'name'));
        // Bayzat does not know 1004; dormant is disabled; gulflog waits for its hourly run.
        self::assertSame(2, $import['progress']['advline']['rejected']);
        self::assertSame(['held'], array_keys($import['progress']['dormant']));
        self::assertSame(['scheduled'], array_keys($import['progress']['gulflog']));
        self::assertSame(['delivered'], array_keys($import['progress']['clarastars']));

        $failed = $imports->failedRows($import['id']);
        self::assertSame(1, $failed['total']);
        self::assertSame('1004', $failed['items'][0]['employee_id']);
        self::assertSame('failed', $failed['items'][0]['delivery_state']);

        $invalid = $imports->invalidRows($import['id']);
        self::assertSame(2, $invalid['total']);
        self::assertEqualsCanonicalizing(['5001', '9999'], array_map(fn ($row) => $row['raw'][0], $invalid['items']));
        self::assertSame(1, $imports->rows($import['id'], ['outcome' => 'skipped'])['total']);

        $csv = $imports->rowsCsv($import['id'], ['outcome' => 'invalid']);
        self::assertStringStartsWith('line,outcome,errors,', $csv);
        self::assertSame(3, count(array_filter(explode("\n", $csv))));
        self::assertStringStartsWith('PK', $imports->rowsXlsx($import['id']));

        $listed = $imports->list(['status' => 'completed', 'uploaded_by' => 'laravel-operator@corp.example']);
        self::assertContains($import['id'], array_column($listed['items'], 'id'));
    }

    public function testBatchesRetriesSyncNowAndHealth(): void
    {
        $import = $this->settledBasicImport();
        $sync = $this->as('operator')->sync();

        $batches = $sync->batches(['import_id' => $import['id'], 'status' => 'failed']);
        self::assertSame(1, $batches['total']);
        $batch = $batches['items'][0];
        self::assertSame(2, $batch['rejected_count']);
        self::assertSame($batch['id'], $sync->batch($batch['id'])['id']);
        self::assertSame(['queued' => 2], $sync->retryBatch($batch['id']));

        $deliveries = $sync->deliveries(['import_id' => $import['id'], 'company' => 'advline', 'per_page' => 500]);
        self::assertGreaterThan(0, $deliveries['total']);

        self::assertArrayHasKey('queued', $sync->syncNow('advline'));
        self::assertArrayHasKey('queued', $sync->syncImportNow($import['id']));

        $health = $sync->health('advline');
        self::assertSame('active', $health['state']);
        self::assertGreaterThan(0, $health['counts']['delivered']);
        self::assertSame('disabled', $sync->health('dormant')['state']);
        self::assertIsArray($sync->usage('advline'));

        // The retried punches end rejected again: Bayzat still does not know 1004.
        $again = $this->as('viewer')->imports()->waitUntilSettled($import['id'], 120, 0.5);
        self::assertSame(2, $again['progress']['advline']['rejected']);
    }

    public function testCompaniesReportNamesEmployeesAndBayzatSettings(): void
    {
        $admin = $this->as('admin');
        self::assertEqualsCanonicalizing(['advline', 'clarastars', 'dormant', 'gulflog'], array_intersect(
            array_column($admin->companies()->list(), 'slug'),
            ['advline', 'clarastars', 'dormant', 'gulflog'],
        ));
        $slug = 'laravel-' . bin2hex(random_bytes(4));
        $company = $admin->companies()->create([
            'slug' => $slug, 'name_en' => 'Laravel Client Ltd', 'timezone' => 'Asia/Dubai',
            'fingerprint_report_names' => ['Laravel ' . $slug],
        ]);
        self::assertSame($slug, $company['slug']);
        self::assertSame('Laravel Client Renamed', $admin->companies()->update($slug, ['name_en' => 'Laravel Client Renamed'])['name_en']);
        self::assertSame($company['id'], $admin->companies()->get($company['id'])['id']);

        $operator = $this->as('operator');
        $name = $operator->companies()->addReportName($slug, 'Laravel HQ ' . $slug);
        try {
            $operator->companies()->addReportName($slug, 'AdvLine');
            self::fail('a name advline has was given to another company');
        } catch (ConflictException $e) {
            self::assertSame('report_name_taken', $e->code());
        }
        $operator->companies()->removeReportName($slug, $name['id']);
        self::assertNotContains($name['id'], array_column($operator->companies()->get($slug)['fingerprint_report_names'], 'id'));

        $employees = $operator->employees();
        self::assertSame(['inserted' => 2, 'updated' => 0, 'unchanged' => 0], $employees->push($slug, [
            ['employee_id' => '7001', 'name' => 'Amal Saeed'],
            ['employee_id' => '7002', 'name' => 'Karim Aziz'],
        ]));
        self::assertSame(['inserted' => 1, 'updated' => 0, 'unchanged' => 1], $employees->uploadCsv(
            $slug,
            "Employee ID,Name,Bayzat Emp ID\n7003,Noor Hadi,LAR-7003\n7001,Amal Saeed,\n",
        ));
        try {
            $employees->uploadCsv($slug, "Employee ID,Name\n,Nobody\n");
            self::fail('an unusable row was accepted');
        } catch (UnprocessableEntityException $e) {
            self::assertSame('invalid_rows', $e->code());
        }
        $employees->deactivate($slug, '7002');
        $active = $employees->list($slug, active: true);
        self::assertEqualsCanonicalizing(['7001', '7003'], array_column($active['items'], 'employee_id'));
        self::assertSame(['7003'], array_column($employees->list($slug, search: 'Noor')['items'], 'employee_id'));

        $bayzat = $admin->bayzat();
        $settings = $bayzat->settings('advline');
        self::assertStringStartsWith('••••', $settings['api_key']);
        self::assertSame(['result' => 'ok'], $bayzat->test('advline'));
        self::assertSame(['result' => 'invalid_key'], $bayzat->test('advline', 'bz_wrong_key'));
        try {
            $bayzat->configure('advline', ['api_key' => 'bz_wrong_key', 'api_url' => $settings['api_url']]);
            self::fail('a key Bayzat refuses was saved');
        } catch (UnprocessableEntityException $e) {
            self::assertSame('connection_test_failed', $e->code());
            self::assertSame('invalid_key', $e->problem()['connection_test']['result']);
        }
        $saved = $bayzat->configure($slug, ['is_enabled' => false, 'sync_frequency' => 'daily', 'daily_at' => '02:00']);
        self::assertSame(['daily', '02:00:00', false], [$saved['sync_frequency'], $saved['daily_at'], $saved['is_enabled']]);

        self::assertGreaterThan(0, $admin->companies()->audit(['per_page' => 5])['total']);
    }

    public function testErrorsAreTypedExceptionsWithTheProblemsCode(): void
    {
        try {
            $this->as('admin')->companies()->create(['slug' => '777', 'name_en' => 'Digits', 'timezone' => 'Asia/Dubai']);
            self::fail('an all-digit slug was accepted');
        } catch (UnprocessableEntityException $e) {
            self::assertSame([422, 'invalid_slug'], [$e->status(), $e->code()]);
            self::assertStringStartsWith('422 invalid_slug: ', $e->getMessage());
        }
        try {
            $this->as('viewer', ['clarastars'])->companies()->get('advline');
            self::fail('a company outside the token was shown');
        } catch (NotFoundException $e) {
            self::assertSame('not_found', $e->code());
        }
        try {
            $this->as('viewer')->imports()->upload("Employee ID,Name\n1001,Ahmed\n", 'x.csv');
            self::fail('a viewer uploaded');
        } catch (AuthorizationException $e) {
            self::assertSame('forbidden', $e->code());
        }
        try {
            $this->as('operator')->imports()->list(['per_page' => 'many']);
            self::fail('a bad query was accepted');
        } catch (BadRequestException $e) {
            self::assertSame('invalid_query', $e->code());
        }
        try {
            $this->as('operator')->imports()->upload('', 'empty.csv');
            self::fail('an empty file was accepted');
        } catch (UnprocessableEntityException $e) {
            self::assertSame('empty_file', $e->code());
        }
        // A key the services do not trust.
        $stranger = new Client(
            new \Illuminate\Http\Client\Factory(),
            TokenSigner::fromKey('stranger', base64_encode(random_bytes(32))),
            ['config' => getenv('ATTENDANCE_BRIDGE_CONFIG_URL')],
            'mallory@corp.example',
            'admin',
        );
        try {
            $stranger->companies()->list();
            self::fail('an untrusted key was accepted');
        } catch (AuthenticationException $e) {
            self::assertSame('invalid_token', $e->code());
            self::assertInstanceOf(ApiException::class, $e);
        }
        self::assertIsString(AttendanceBridge::as('jane', 'viewer')->token());
    }
}
